/**
 * The packed package's contents and types (see spec/support/tarball.ts): what the tarball holds,
 * what each build loads, strict TypeScript applications (spec/fixtures/tarball/typescript/: an
 * Express app, and a koa app on the koa entry) under every `module` setting against each driver
 * major's types, arethetypeswrong and publint (which check the `./koa` entry point too).
 * No database: this spec runs once per test run.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import ts from 'typescript';
import { type Execution, execute, type Project } from './support/sandbox.js';
import {
  DRIVERS,
  installTarball,
  Jobs,
  MODULES,
  type Packed,
  packTarball,
} from './support/tarball.js';

/** What the installed package may load besides Node's built-ins. */
const CJS_REQUIRES = ['mongodb'];
const ESM_IMPORTS = ['mongodb', 'p-queue'];

/**
 * Every file the tarball holds; CHANGELOG.md too once there is one. Each build has a file per
 * entry point and the repository they share (tsdown.config.ts); koa/package.json points
 * resolvers that predate `exports` (TypeScript's node10) to the koa entry.
 */
const PACKED_FILES = [
  'LICENSE',
  'README.md',
  'dist/index.cjs',
  'dist/index.d.cts',
  'dist/index.d.ts',
  'dist/index.js',
  'dist/koa.cjs',
  'dist/koa.d.cts',
  'dist/koa.d.ts',
  'dist/koa.js',
  'dist/repository.cjs',
  'dist/repository.d.cts',
  'dist/repository.d.ts',
  'dist/repository.js',
  'dist/rolldown-runtime.cjs',
  'koa/package.json',
  'package.json',
];

/** One application source, as an ES module, a CommonJS module and a bundler's module. */
const CONSUMERS = {
  'app.mts': 'typescript/app.ts',
  'app.cts': 'typescript/app.ts',
  'app.ts': 'typescript/app.ts',
  'require-style.cts': 'typescript/require-style.cts',
  'koa-app.mts': 'typescript/koa-app.ts',
  'koa-app.cts': 'typescript/koa-app.ts',
  'koa-app.ts': 'typescript/koa-app.ts',
};

/** The `module` settings of TypeScript consumers, each with the consumer files it checks. */
const TYPESCRIPT_SETTINGS = {
  node16: {
    compilerOptions: { module: 'node16', moduleResolution: 'node16' },
    files: ['app.mts', 'app.cts', 'require-style.cts', 'koa-app.mts', 'koa-app.cts'],
  },
  nodenext: {
    compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' },
    files: ['app.mts', 'app.cts', 'require-style.cts', 'koa-app.mts', 'koa-app.cts'],
  },
  bundler: {
    compilerOptions: { module: 'preserve', moduleResolution: 'bundler' },
    files: ['app.ts', 'koa-app.ts'],
  },
};

/** The compiler options of a strict project; the package's declarations are checked too. */
const STRICT_OPTIONS = {
  target: 'ES2022',
  lib: ['ES2023'],
  types: ['node'],
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: false,
  noEmit: true,
};

interface AttwReport {
  readonly analysis: { readonly problems: readonly unknown[] };
}

let packed: Packed | undefined;
const projects: Project[] = [];
const jobs = new Jobs();

before(async () => {
  packed = await packTarball();
  const tarball = packed.tarball;
  jobs.start('attw', () => attw(tarball));
  jobs.start('publint', () => publint(tarball));
  for (const driver of DRIVERS) {
    const project = await installTarball(packed, driver, CONSUMERS);
    projects.push(project);
    for (const [setting, { compilerOptions, files }] of Object.entries(TYPESCRIPT_SETTINGS)) {
      await writeFile(
        join(project.dir, `tsconfig.${setting}.json`),
        JSON.stringify({ compilerOptions: { ...STRICT_OPTIONS, ...compilerOptions }, files }),
      );
    }
    jobs.start(`tsc ${driver.major}`, () => typeCheck(project.dir));
  }
});

after(async () => {
  // What the tests did not wait for has to end before its directory goes.
  await jobs.idle();
  for (const project of projects) await project.dispose();
  await packed?.dispose();
});

function packedOrFail(): Packed {
  if (packed === undefined) throw new Error('The before() hook did not pack the package');
  return packed;
}

/**
 * TypeScript on the consumer under every setting: one `tsc --build` of the three configurations,
 * which parses the declarations they share once. `--verbose` names each configuration before its
 * errors.
 */
function typeCheck(dir: string): Promise<Execution> {
  const configs = Object.keys(TYPESCRIPT_SETTINGS).map((setting) => `tsconfig.${setting}.json`);
  const tsc = join(MODULES, 'typescript', 'bin', 'tsc');
  return execute(process.execPath, [tsc, '--build', '--verbose', ...configs], {
    cwd: dir,
    timeoutMs: 180_000,
  });
}

async function attw(tarball: string): Promise<AttwReport> {
  const cli = join(MODULES, '@arethetypeswrong', 'cli', 'dist', 'index.js');
  const { stdout } = await execute(process.execPath, [cli, '--format', 'json', tarball], {
    cwd: packedOrFail().workDir,
    timeoutMs: 60_000,
  });
  return JSON.parse(stdout) as AttwReport;
}

function publint(tarball: string): Promise<Execution> {
  const cli = join(MODULES, 'publint', 'src', 'cli.js');
  return execute(process.execPath, [cli, 'run', tarball, '--strict'], {
    cwd: packedOrFail().workDir,
    timeoutMs: 60_000,
  });
}

/**
 * What a bundle loads, by `import`, `import()` or `require()`: packages (Node's built-ins left
 * out) and files of dist/ (relative paths). TypeScript's scanner finds them, so a call quoted in
 * a comment is no call.
 */
async function loadsOf(file: string): Promise<{ packages: string[]; files: string[] }> {
  const { importedFiles } = ts.preProcessFile(await readFile(file, 'utf8'), true, true);
  const names = importedFiles.map((imported) => imported.fileName);
  const unique = (list: string[]) => [...new Set(list)].sort();
  return {
    packages: unique(names.filter((name) => !name.startsWith('.') && !isBuiltin(name))),
    files: unique(
      names.filter((name) => name.startsWith('.')).map((name) => join(dirname(file), name)),
    ),
  };
}

/** The packages a bundle loads, itself and through the files of dist/ it loads, and those files. */
async function loadedFrom(entry: string): Promise<{ packages: string[]; files: string[] }> {
  const files = new Set([entry]);
  const packages = new Set<string>();
  for (const file of files) {
    const loads = await loadsOf(file);
    for (const name of loads.packages) packages.add(name);
    for (const loaded of loads.files) files.add(loaded);
  }
  const dist = join(packedOrFail().packageDir, 'dist');
  return {
    packages: [...packages].sort(),
    files: [...files].map((file) => file.slice(dist.length + 1)).sort(),
  };
}

test('the tarball holds the built package, package.json, README and LICENSE, and nothing else', () => {
  const { files } = packedOrFail();

  assert.deepEqual(
    files.filter((file) => file !== 'CHANGELOG.md'),
    PACKED_FILES,
  );
});

test('the packed CommonJS build requires only mongodb and Node built-ins: p-queue and its dependencies are inside it', async () => {
  const dist = join(packedOrFail().packageDir, 'dist');

  assert.deepEqual(await loadedFrom(join(dist, 'index.cjs')), {
    packages: CJS_REQUIRES,
    files: ['index.cjs', 'repository.cjs', 'rolldown-runtime.cjs'],
  });
});

test('the packed ES module build imports p-queue and mongodb as packages', async () => {
  const dist = join(packedOrFail().packageDir, 'dist');

  assert.deepEqual(await loadedFrom(join(dist, 'index.js')), {
    packages: ESM_IMPORTS,
    files: ['index.js', 'repository.js'],
  });
});

test("the koa entry loads the repository the package entry loads, and not the package entry's own file, which loads express-session", async () => {
  const dist = join(packedOrFail().packageDir, 'dist');

  assert.deepEqual(await loadedFrom(join(dist, 'koa.cjs')), {
    packages: CJS_REQUIRES,
    files: ['koa.cjs', 'repository.cjs', 'rolldown-runtime.cjs'],
  });
  assert.deepEqual(await loadedFrom(join(dist, 'koa.js')), {
    packages: ESM_IMPORTS,
    files: ['koa.js', 'repository.js'],
  });
});

for (const driver of DRIVERS) {
  test(`a strict TypeScript Express app and koa app type-check under module node16, nodenext (ES module and CommonJS consumers) and bundler with driver ${driver.major}'s types`, async () => {
    const { stdout } = await jobs.result<Execution>(`tsc ${driver.major}`);

    for (const setting of Object.keys(TYPESCRIPT_SETTINGS)) {
      assert.match(stdout, new RegExp(`Building project '[^']*tsconfig\\.${setting}\\.json'`));
    }
    assert.doesNotMatch(stdout, /error TS\d+/);
  });
}

test('arethetypeswrong finds no problem with the tarball', async () => {
  const report = await jobs.result<AttwReport>('attw');

  assert.deepEqual(report.analysis.problems, []);
});

test('publint finds no error or warning in the tarball', async () => {
  const { stdout } = await jobs.result<Execution>('publint');

  assert.match(stdout, /All good!/);
});
