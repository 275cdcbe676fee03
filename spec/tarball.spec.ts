/**
 * The packed package at run time (see spec/support/tarball.ts), on each driver major: plain node
 * through `import` (default and named) and `require` (version 5's factory and the named exports,
 * without Node's require of ES modules), and Jest's default CommonJS runtime, each storing,
 * reading and destroying a session on the test server; the koa entry (`connect-mongodb-session/koa`)
 * through `import` and `require` alike. The programs are spec/fixtures/tarball/'s.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { useSpecDatabase } from './support/database.js';
import { execute, type Project, runNodeArgs } from './support/sandbox.js';
import {
  DRIVERS,
  type Driver,
  installTarball,
  Jobs,
  MODULES,
  type Packed,
  packTarball,
} from './support/tarball.js';

const database = useSpecDatabase(import.meta.url);

interface RoundTrip {
  readonly views: number | null;
  readonly afterDestroy: unknown;
  readonly usesInstalledDriver: boolean;
}

interface RoundTripReport {
  readonly resolved: string;
  readonly driverVersion: string;
  readonly factory: RoundTrip;
  readonly named: RoundTrip;
}

interface EsmReport extends RoundTripReport {
  readonly repository: Omit<RoundTrip, 'usesInstalledDriver'>;
}

interface CjsReport extends RoundTripReport {
  readonly requireType: string;
  readonly namedExports: readonly string[];
}

interface KoaReport {
  readonly resolved: string;
  readonly driverVersion: string;
  readonly own: {
    readonly views: number | null;
    readonly afterDestroy: unknown;
    readonly repositoryOfThePackage: boolean;
  };
  readonly given: {
    readonly views: number | null;
    readonly afterDestroy: unknown;
    readonly repositoryOpenAfterClose: boolean;
  };
}

interface JestReport {
  readonly success: boolean;
  readonly numPassedTests: number;
  readonly numFailedTests: number;
}

const FIXTURES = {
  'round-trip.mjs': 'round-trip.mjs',
  'round-trip.cjs': 'round-trip.cjs',
  'koa-round-trip.mjs': 'koa-round-trip.mjs',
  'koa-round-trip.cjs': 'koa-round-trip.cjs',
  // A .js name, which Jest's default testMatch takes; the project's package.json makes it CommonJS.
  'session-store.test.js': 'session-store.test.cjs',
};

let packed: Packed | undefined;
const projects: Project[] = [];
const jobs = new Jobs();

before(async () => {
  packed = await packTarball();
  for (const driver of DRIVERS) {
    const project = await installTarball(packed, driver, FIXTURES);
    projects.push(project);
    const env = roundTripEnv(driver);
    jobs.start(`esm ${driver.major}`, () =>
      runNodeArgs<EsmReport>(['round-trip.mjs'], project.dir, env),
    );
    jobs.start(`cjs ${driver.major}`, () =>
      runNodeArgs<CjsReport>(
        ['--no-experimental-require-module', 'round-trip.cjs'],
        project.dir,
        env,
      ),
    );
    jobs.start(`jest ${driver.major}`, () => runJest(project.dir, env));
    jobs.start(`koa esm ${driver.major}`, () =>
      runNodeArgs<KoaReport>(['koa-round-trip.mjs'], project.dir, env),
    );
    jobs.start(`koa cjs ${driver.major}`, () =>
      runNodeArgs<KoaReport>(
        ['--no-experimental-require-module', 'koa-round-trip.cjs'],
        project.dir,
        env,
      ),
    );
  }
});

after(async () => {
  // What the tests did not wait for has to end before its directory goes.
  await jobs.idle();
  for (const project of projects) await project.dispose();
  await packed?.dispose();
});

function roundTripEnv(driver: Driver): Record<string, string> {
  return {
    MONGODB_URI: database.uri,
    DATABASE_NAME: database.databaseName,
    ROUND_TRIP_LABEL: `driver${driver.major}`,
  };
}

/** Jest's CLI in `dir`, with its default (CommonJS) runtime; resolves with its JSON summary. */
async function runJest(dir: string, env: Record<string, string>): Promise<JestReport> {
  const jest = join(MODULES, 'jest', 'bin', 'jest.js');
  const { stdout } = await execute(
    process.execPath,
    [
      jest,
      '--ci',
      '--json',
      '--rootDir',
      dir,
      '--cacheDirectory',
      join(dir, '.jest-cache'),
      // Jest's 5 s default is short for a first connection on a busy two-core machine.
      '--testTimeout',
      '30000',
    ],
    { cwd: dir, env, timeoutMs: 120_000 },
  );
  return JSON.parse(stdout) as JestReport;
}

for (const driver of DRIVERS) {
  test(`import, default and named, round-trips a session on driver ${driver.major}`, async () => {
    const report = await jobs.result<EsmReport>(`esm ${driver.major}`);

    assert.match(report.resolved, /node_modules\/connect-mongodb-session\/dist\/index\.js$/);
    assert.equal(report.driverVersion.split('.')[0], String(driver.major));
    for (const name of ['factory', 'named'] as const) {
      assert.deepEqual(report[name], { views: 3, afterDestroy: null, usesInstalledDriver: true });
    }
    assert.deepEqual(report.repository, { views: 3, afterDestroy: null });
  });

  test(`require, version 5's factory and the named export, round-trips a session on driver ${driver.major} without require(esm)`, async () => {
    const report = await jobs.result<CjsReport>(`cjs ${driver.major}`);

    assert.match(report.resolved, /node_modules\/connect-mongodb-session\/dist\/index\.cjs$/);
    assert.equal(report.driverVersion.split('.')[0], String(driver.major));
    assert.equal(report.requireType, 'function');
    assert.ok(report.namedExports.includes('MongoDBStore'), 'no MongoDBStore on the factory');
    for (const name of ['factory', 'named'] as const) {
      assert.deepEqual(report[name], { views: 3, afterDestroy: null, usesInstalledDriver: true });
    }
  });

  test(`Jest's CommonJS runtime loads the package and round-trips a session on driver ${driver.major}`, async () => {
    const report = await jobs.result<JestReport>(`jest ${driver.major}`);

    assert.equal(report.success, true);
    assert.equal(report.numFailedTests, 0);
    assert.equal(report.numPassedTests, 2);
  });

  for (const [way, job, file] of [
    ['import', 'esm', 'koa.js'],
    ['require', 'cjs', 'koa.cjs'],
  ] as const) {
    test(`the koa entry through ${way} runs koa-session's calls on a store of its own and on the package's repository, on driver ${driver.major}`, async () => {
      const report = await jobs.result<KoaReport>(`koa ${job} ${driver.major}`);

      assert.ok(
        report.resolved.endsWith(`node_modules/connect-mongodb-session/dist/${file}`),
        `${report.resolved} is dist/${file}`,
      );
      assert.equal(report.driverVersion.split('.')[0], String(driver.major));
      assert.deepEqual(report.own, { views: 3, afterDestroy: null, repositoryOfThePackage: true });
      assert.deepEqual(report.given, {
        views: 3,
        afterDestroy: null,
        repositoryOpenAfterClose: true,
      });
    });
  }
}
