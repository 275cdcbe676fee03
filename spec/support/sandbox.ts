import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE = 'connect-mongodb-session';
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs `script` (an ES module) with plain `node` in a temporary directory whose node_modules
 * holds a copy of the built package and the named dependencies only, linked from this
 * project's node_modules (`{ mongodb: 'mongodb6' }` installs node_modules/mongodb6 as mongodb).
 * Returns the JSON the script prints. Plain node, because this process runs under tsx, whose
 * require hook would compile dist/index.js into a second CommonJS copy instead of Node's own
 * `require(esm)`.
 */
export async function runInSandbox<T>(
  script: string,
  dependencies: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string>> = {},
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'cms-sandbox-'));
  try {
    const modules = join(dir, 'node_modules');
    const installed = join(modules, PACKAGE);
    await mkdir(installed, { recursive: true });
    // A copy, not a link: Node resolves a linked package from its real path, next to all of this
    // project's node_modules, which would defeat the point of the sandbox.
    await cp(join(ROOT, 'package.json'), join(installed, 'package.json'));
    await cp(join(ROOT, 'dist'), join(installed, 'dist'), { recursive: true });
    for (const [name, source] of Object.entries(dependencies)) {
      await symlink(join(ROOT, 'node_modules', source), join(modules, name), 'dir');
    }
    return await runNode<T>(script, dir, env);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs an ES module script in a plain `node` in `cwd` and returns the JSON it prints. */
export function runNode<T>(
  script: string,
  cwd: string,
  env: Readonly<Record<string, string>> = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`node failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as T);
      },
    );
  });
}
