/**
 * The package as npm publishes it, for spec/tarball*.spec.ts: one `npm pack` of this project
 * (`npm test` builds dist/ first), unpacked into temporary projects that install it as an
 * application would, with its dependency and peers linked from this project's node_modules, so
 * that no registry is asked.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { createProject, execute, type Project, ROOT } from './sandbox.js';

export const FIXTURES = join(ROOT, 'spec', 'fixtures', 'tarball');
export const MODULES = join(ROOT, 'node_modules');

/** Each driver major and the directory of this project's node_modules that holds it. */
export const DRIVERS = [
  { major: 7, directory: 'mongodb' },
  { major: 6, directory: 'mongodb6' },
] as const;
export type Driver = (typeof DRIVERS)[number];

export interface Packed {
  /** The directory the tarball and everything made from it live in. */
  readonly workDir: string;
  readonly tarball: string;
  /** The paths the tarball holds, sorted. */
  readonly files: readonly string[];
  /** The tarball unpacked: the package as installed. */
  readonly packageDir: string;
  /** Removes the tarball and the unpacked package. */
  dispose(): Promise<void>;
}

/** `npm pack` of this project into a temporary directory, unpacked beside the tarball. */
export async function packTarball(): Promise<Packed> {
  if (!existsSync(join(ROOT, 'dist', 'index.cjs')) || !existsSync(join(ROOT, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` before this spec (`npm test` does).');
  }
  const workDir = await mkdtemp(join(tmpdir(), 'cms-tarball-'));
  const dispose = () => rm(workDir, { recursive: true, force: true });
  try {
    const { stdout } = await execute(
      'npm',
      ['pack', '--json', '--offline', '--pack-destination', workDir],
      // npm writes its logs and cache under HOME; keep them out of the project.
      { cwd: ROOT, env: { HOME: workDir }, timeoutMs: 60_000 },
    );
    const [report] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
    const tarball = join(workDir, report.filename);
    const unpacked = join(workDir, 'unpacked');
    await mkdir(unpacked);
    await execute('tar', ['-xzf', tarball, '-C', unpacked], { cwd: workDir });
    return {
      workDir,
      tarball,
      files: report.files.map((file) => file.path).sort(),
      packageDir: join(unpacked, 'package'),
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * A CommonJS-typed project (`"type": "commonjs"`) with the unpacked package, `driver` as
 * `mongodb`, p-queue, express and express-session with their types, koa-session (which declares
 * its own), and `fixtures` (names in spec/fixtures/tarball/, each copied to the name given).
 */
export async function installTarball(
  packed: Packed,
  driver: Driver,
  fixtures: Readonly<Record<string, string>>,
): Promise<Project> {
  const project = await createProject({
    packageDir: packed.packageDir,
    dependencies: {
      mongodb: driver.directory,
      'p-queue': 'p-queue',
      express: 'express',
      'express-session': 'express-session',
      '@types/node': '@types/node',
      '@types/express': '@types/express',
      '@types/express-session': '@types/express-session',
      'koa-session': 'koa-session',
    },
  });
  try {
    await writeFile(
      join(project.dir, 'package.json'),
      JSON.stringify({ name: 'tarball-consumer', private: true, type: 'commonjs' }),
    );
    for (const [copy, fixture] of Object.entries(fixtures)) {
      await copyFile(join(FIXTURES, fixture), join(project.dir, copy));
    }
    return project;
  } catch (error) {
    await project.dispose();
    throw error;
  }
}

/**
 * Programs that run two at a time (the machines the specs run on have two cores), started
 * before the first test so that the tests, which run one after the other, wait for them in turn.
 */
export class Jobs {
  readonly #queue = new PQueue({ concurrency: 2 });
  readonly #started = new Map<string, Promise<unknown>>();

  /** Starts `run` once under `name`. */
  start<T>(name: string, run: () => Promise<T>): void {
    const started = this.#queue.add(run);
    // Each test awaits its job; this handler only keeps a job nobody awaits from going unhandled.
    started.catch(() => {});
    this.#started.set(name, started);
  }

  /** What the job `name` settled or settles with. */
  result<T>(name: string): Promise<T> {
    const started = this.#started.get(name);
    if (started === undefined)
      throw new Error(`No job ${name}: the before() hook did not start it`);
    return started as Promise<T>;
  }

  /** Resolves once every job has ended. */
  idle(): Promise<void> {
    return this.#queue.onIdle();
  }
}
