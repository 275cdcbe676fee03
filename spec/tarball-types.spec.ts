/**
 * The packed package's contents and types (see spec/support/tarball.ts): what the tarball holds,
 * what each build loads, a strict TypeScript application (spec/fixtures/tarball/typescript/)
 * under every `module` setting against each driver major's types, arethetypeswrong and publint.
 * No database: this spec runs once per test run.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
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

/** Every file the tarball holds; CHANGELOG.md too once there is one. */
const PACKED_FILES = [
  'LICENSE',
  'README.md',
  'dist/index.cjs',
  'dist/index.d.cts',
  'dist/index.d.ts',
  'dist/index.js',
  'package.json',
];

/** One application source, as an ES module, a CommonJS module and a bundler's module. */
const CONSUMERS = {
  'app.mts': 'typescript/app.ts',
  'app.cts': 'typescript/app.ts',
  'app.ts': 'typescript/app.ts',
  'require-style.cts': 'typescript/require-style.cts',
};

/** The `module` settings of TypeScript consumers, each with the consumer files it checks. */
const TYPESCRIPT_SETTINGS = {
  node16: {
    compilerOptions: { module: 'node16', moduleResolution: 'node16' },
    files: ['app.mts', 'app.cts', 'require-style.cts'],
  },
  nodenext: {
    compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' },
    files: ['app.mts', 'app.cts', 'require-style.cts'],
  },
  bundler: {
    compilerOptions: { module: 'preserve', moduleResolution: 'bundler' },
    files: ['app.ts'],
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
 * The packages a bundle loads, by `import`, `import()` or `require()`, relative paths and Node's
 * built-ins left out. TypeScript's scanner finds them, so a call quoted in a comment is no call.
 */
async function loadedPackages(file: string): Promise<string[]> {
  const { importedFiles } = ts.preProcessFile(await readFile(file, 'utf8'), true, true);
  const names = importedFiles.map((imported) => imported.fileName);
  return [...new Set(names.filter((name) => !name.startsWith('.') && !isBuiltin(name)))].sort();
}

test('the tarball holds the built package, package.json, README and LICENSE, and nothing else', () => {
  const { files } = packedOrFail();

  assert.deepEqual(
    files.filter((file) => file !== 'CHANGELOG.md'),
    PACKED_FILES,
  );
});

test('the packed CommonJS build requires only mongodb and Node built-ins: p-queue and its dependencies are inside it', async () => {
  const file = join(packedOrFail().packageDir, 'dist', 'index.cjs');

  assert.deepEqual(await loadedPackages(file), CJS_REQUIRES);
});

test('the packed ES module build imports p-queue and mongodb as packages', async () => {
  const file = join(packedOrFail().packageDir, 'dist', 'index.js');

  assert.deepEqual(await loadedPackages(file), ESM_IMPORTS);
});

for (const driver of DRIVERS) {
  test(`a strict TypeScript Express app type-checks under module node16, nodenext (ES module and CommonJS consumers) and bundler with driver ${driver.major}'s types`, async () => {
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
