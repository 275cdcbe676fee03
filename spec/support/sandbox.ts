import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE = 'connect-mongodb-session';
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A temporary directory laid out as an application that installed the package. */
export interface Project {
  readonly dir: string;
  /** Removes the directory. */
  dispose(): Promise<void>;
}

export interface ProjectOptions {
  /**
   * The installed package's files: a directory holding them as they are packed (an unpacked
   * tarball). By default this project's package.json and dist/.
   */
  readonly packageDir?: string | undefined;
  /**
   * What else node_modules holds: each name (`@types/node` included) linked to a directory of
   * this project's node_modules (`{ mongodb: 'mongodb6' }` installs node_modules/mongodb6 as
   * mongodb).
   */
  readonly dependencies: Readonly<Record<string, string>>;
}

/**
 * Makes a temporary directory whose node_modules holds a copy of the package and links to the
 * named dependencies only. A copy, not a link: Node resolves a linked package from its real path,
 * next to all of this project's node_modules, which would defeat the point of the sandbox.
 */
export async function createProject(options: ProjectOptions): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'cms-sandbox-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const modules = join(dir, 'node_modules');
    const installed = join(modules, PACKAGE);
    if (options.packageDir === undefined) {
      await mkdir(installed, { recursive: true });
      await cp(join(ROOT, 'package.json'), join(installed, 'package.json'));
      await cp(join(ROOT, 'dist'), join(installed, 'dist'), { recursive: true });
    } else {
      await cp(options.packageDir, installed, { recursive: true });
    }
    for (const [name, source] of Object.entries(options.dependencies)) {
      await mkdir(dirname(join(modules, name)), { recursive: true });
      await symlink(join(ROOT, 'node_modules', source), join(modules, name), 'dir');
    }
    return { dir, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * Runs `script` (an ES module) with plain `node` in a temporary project (see `createProject`)
 * holding the built package and the named dependencies only. Returns the JSON the script prints.
 * Plain node, because this process runs under tsx, whose require hook would compile the package
 * in its own way instead of Node's.
 */
export async function runInSandbox<T>(
  script: string,
  dependencies: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string>> = {},
): Promise<T> {
  const project = await createProject({ dependencies });
  try {
    return await runNode<T>(script, project.dir, env);
  } finally {
    await project.dispose();
  }
}

/** Runs an ES module script in a plain `node` in `cwd` and returns the JSON it prints. */
export function runNode<T>(
  script: string,
  cwd: string,
  env: Readonly<Record<string, string>> = {},
): Promise<T> {
  return runNodeArgs<T>(['--input-type=module', '-e', script], cwd, env);
}

/** Runs plain `node` with `args` in `cwd` and returns the JSON it prints. */
export async function runNodeArgs<T>(
  args: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string>> = {},
): Promise<T> {
  const { stdout } = await execute(process.execPath, args, { cwd, env });
  return JSON.parse(stdout) as T;
}

export interface Execution {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program with only PATH, HOME (`cwd`) and `env` in its environment, so that nothing of
 * this process's (NODE_OPTIONS, tsx's hooks) reaches it. Rejects with its output when it exits
 * with an error or runs past `timeoutMs`.
 */
export function execute(
  file: string,
  args: readonly string[],
  options: {
    readonly cwd: string;
    readonly env?: Readonly<Record<string, string>>;
    readonly timeoutMs?: number;
  },
): Promise<Execution> {
  const { cwd, env = {}, timeoutMs = 30_000 } = options;
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd,
        env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env },
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error)
          reject(
            new Error(`${file} ${args[0] ?? ''} failed: ${error.message}\n${stdout}${stderr}`),
          );
        else resolve({ stdout, stderr });
      },
    );
  });
}
