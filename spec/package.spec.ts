/**
 * The built package as users consume it: `require` (dist/index.cjs) and `import` (dist/index.js),
 * both resolved through the package's self-reference, and the koa entry (dist/koa.cjs and
 * dist/koa.js). Run `npm run build` first (`npm test` does).
 * The two are separate builds of lib/, each with its own classes: what they share is the list of
 * exports (values and types) and `instanceof` on the error classes, which recognise each other.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { PACKAGE, ROOT, runInSandbox, runNode } from './support/sandbox.js';

/** The values the package exports by name, through `require` and `import` alike. */
const VALUE_NAMES = [
  'ConnectionError',
  'IndexError',
  'InvalidSessionError',
  'InvalidSessionIdError',
  'MongoDBStore',
  'OperationError',
  'OperationTimeoutError',
  'OverloadedError',
  'QueueFullError',
  'SessionDecryptionError',
  'SessionRepository',
  'SessionStoreError',
  'StoreClosedError',
  'UnreadableSessionError',
  'hashSessionId',
] as const;

before(() => {
  if (!existsSync(join(ROOT, 'dist', 'index.cjs')) || !existsSync(join(ROOT, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` before this spec (`npm test` does).');
  }
});

interface EntryPoints {
  readonly requireResolved: string;
  readonly importResolved: string;
  readonly requireType: string;
  readonly requireNames: readonly string[];
  readonly importDefaultType: string;
  readonly importNames: readonly string[];
  readonly namedTypes: Record<string, readonly [string, string]>;
  readonly factoryResultIsNamedStore: readonly [boolean, boolean];
  readonly errorClasses: readonly string[];
  readonly instanceofMismatches: readonly string[];
  readonly crossInstanceof: Record<string, boolean>;
  readonly connectionErrorCode: string;
  readonly storeExtendsExpressSessionStore: readonly [boolean, boolean];
}

// Runs in the package's directory, so that its name resolves through the self-reference.
const ENTRY_POINTS_SCRIPT = `
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const cjs = require('${PACKAGE}');
const esm = await import('${PACKAGE}');
const expressSession = require('express-session');
const importNames = Object.keys(esm).filter((name) => name !== 'default').sort();
const isErrorClass = (value) => typeof value === 'function' && value.prototype instanceof Error;
const errorClasses = importNames.filter((name) => isErrorClass(esm[name]));
// For every pair of error classes, whether an error of the first is an instance of the second
// must not depend on which build made it or which build's class it is checked against.
const instanceofMismatches = [];
for (const [made, by] of [[cjs, 'required'], [esm, 'imported']]) {
  for (const name of errorClasses) {
    const error = Object.create(made[name].prototype);
    for (const other of errorClasses) {
      const expected = error instanceof made[other];
      for (const [checked, against] of [[cjs, 'required'], [esm, 'imported']]) {
        if ((error instanceof checked[other]) !== expected) {
          instanceofMismatches.push(by + ' ' + name + ' instanceof ' + against + ' ' + other);
        }
      }
    }
  }
}
class AppError extends cjs.ConnectionError {}
const invalid = new cjs.InvalidSessionIdError(42);
const connection = new esm.ConnectionError(new Error('refused'));
process.stdout.write(JSON.stringify({
  requireResolved: require.resolve('${PACKAGE}'),
  importResolved: import.meta.resolve('${PACKAGE}'),
  requireType: typeof cjs,
  requireNames: Object.keys(cjs).sort(),
  importDefaultType: typeof esm.default,
  importNames,
  namedTypes: Object.fromEntries(importNames.map((name) => [name, [typeof cjs[name], typeof esm[name]]])),
  factoryResultIsNamedStore: [cjs(expressSession) === cjs.MongoDBStore, esm.default(expressSession) === esm.MongoDBStore],
  errorClasses,
  instanceofMismatches,
  crossInstanceof: {
    'required InvalidSessionIdError is an imported InvalidSessionIdError': invalid instanceof esm.InvalidSessionIdError,
    'required InvalidSessionIdError is a TypeError': invalid instanceof TypeError,
    'required InvalidSessionIdError is not an imported SessionStoreError': !(invalid instanceof esm.SessionStoreError),
    'imported ConnectionError is a required ConnectionError': connection instanceof cjs.ConnectionError,
    'imported ConnectionError is a required SessionStoreError': connection instanceof cjs.SessionStoreError,
    'imported ConnectionError is not a required QueueFullError': !(connection instanceof cjs.QueueFullError),
    'imported ConnectionError is not an application subclass of it': !(connection instanceof AppError),
    'an application subclass error is an imported ConnectionError': new AppError(new Error('refused')) instanceof esm.ConnectionError,
    'a plain Error is no imported SessionStoreError': !(new Error('x') instanceof esm.SessionStoreError),
    'a string is no required SessionStoreError': !('SessionStoreError' instanceof cjs.SessionStoreError),
  },
  connectionErrorCode: connection.code,
  storeExtendsExpressSessionStore: [cjs.MongoDBStore.prototype instanceof expressSession.Store, esm.MongoDBStore.prototype instanceof expressSession.Store],
}));
`;

let entryPointsRun: Promise<EntryPoints> | undefined;

/** The report of one plain-node run, shared by the tests below. */
function entryPoints(): Promise<EntryPoints> {
  entryPointsRun ??= runNode<EntryPoints>(ENTRY_POINTS_SCRIPT, ROOT);
  return entryPointsRun;
}

test('require returns version 5’s factory function with the named exports attached', async () => {
  const report = await entryPoints();

  assert.equal(report.requireType, 'function');
  assert.deepEqual(report.requireNames, [...VALUE_NAMES]);
});

test('require resolves to dist/index.cjs and import to dist/index.js', async () => {
  const report = await entryPoints();

  assert.equal(report.requireResolved, join(ROOT, 'dist', 'index.cjs'));
  assert.equal(report.importResolved, pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
});

test('import gives the factory as the default export and the same named exports as require', async () => {
  const report = await entryPoints();

  assert.equal(report.importDefaultType, 'function');
  assert.deepEqual(report.importNames, report.requireNames);
  for (const [name, [required, imported]] of Object.entries(report.namedTypes)) {
    assert.equal(
      required,
      imported,
      `${name} is a ${required} through require, a ${imported} through import`,
    );
  }
});

test('the factory returns the named MongoDBStore of its own build', async () => {
  const report = await entryPoints();

  assert.deepEqual(report.factoryResultIsNamedStore, [true, true]);
});

test('instanceof on every error class gives the same answer whichever build made the error', async () => {
  const report = await entryPoints();

  assert.ok(
    report.errorClasses.length >= 10,
    `only ${report.errorClasses.length} error classes found`,
  );
  assert.deepEqual(report.instanceofMismatches, []);
});

test('errors made through one entry point are instances of the other’s classes, and of no others', async () => {
  const report = await entryPoints();

  for (const [claim, holds] of Object.entries(report.crossInstanceof)) assert.ok(holds, claim);
  assert.equal(report.connectionErrorCode, 'CONNECTION_FAILED');
});

test('the named MongoDBStore of both builds is built on the installed express-session Store', async () => {
  const report = await entryPoints();

  assert.deepEqual(report.storeExtendsExpressSessionStore, [true, true]);
});

interface KoaEntryPoints {
  readonly requireResolved: string;
  readonly importResolved: string;
  readonly requireNames: readonly string[];
  readonly importNames: readonly string[];
  /** The packages of `packages` in the module cache after loading the koa entry both ways. */
  readonly loadedByKoaEntry: readonly string[];
  /** The same after loading the package entry too: what shows that the check sees them. */
  readonly loadedByPackageEntry: readonly string[];
}

// Runs in the package's directory. Whatever loads express-session or koa (CommonJS packages, even
// when an ES module loads them through createRequire) leaves them in the module cache.
const KOA_ENTRY_SCRIPT = `
import { createRequire } from 'node:module';
import { sep } from 'node:path';
const require = createRequire(process.cwd() + '/');
const packages = ['express-session', 'koa', 'koa-session'];
const loaded = () => packages.filter((name) =>
  Object.keys(require.cache).some((file) => file.includes(sep + 'node_modules' + sep + name + sep)));
const cjs = require('${PACKAGE}/koa');
const esm = await import('${PACKAGE}/koa');
const loadedByKoaEntry = loaded();
await import('${PACKAGE}');
process.stdout.write(JSON.stringify({
  requireResolved: require.resolve('${PACKAGE}/koa'),
  importResolved: import.meta.resolve('${PACKAGE}/koa'),
  requireNames: Object.keys(cjs).sort(),
  importNames: Object.keys(esm).sort(),
  loadedByKoaEntry,
  loadedByPackageEntry: loaded(),
}));
`;

let koaEntryPointsRun: Promise<KoaEntryPoints> | undefined;

function koaEntryPoints(): Promise<KoaEntryPoints> {
  koaEntryPointsRun ??= runNode<KoaEntryPoints>(KOA_ENTRY_SCRIPT, ROOT);
  return koaEntryPointsRun;
}

test('the koa entry resolves to dist/koa.cjs through require and dist/koa.js through import, each exporting koaStore', async () => {
  const report = await koaEntryPoints();

  assert.equal(report.requireResolved, join(ROOT, 'dist', 'koa.cjs'));
  assert.equal(report.importResolved, pathToFileURL(join(ROOT, 'dist', 'koa.js')).href);
  assert.deepEqual(report.requireNames, ['koaStore']);
  assert.deepEqual(report.importNames, ['koaStore']);
});

test('the koa entry loads neither express-session nor koa nor koa-session', async () => {
  const report = await koaEntryPoints();

  assert.deepEqual(report.loadedByKoaEntry, []);
  assert.deepEqual(report.loadedByPackageEntry, ['express-session'], 'the check sees a load');
});

test('dist/koa.d.ts and dist/koa.d.cts declare the same names, types included', () => {
  const esm = join(ROOT, 'dist', 'koa.d.ts');
  const cjs = join(ROOT, 'dist', 'koa.d.cts');
  const program = ts.createProgram([esm, cjs], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  });
  const imported = declaredNames(program, esm);

  assert.deepEqual(declaredNames(program, cjs), imported);
  for (const name of ['koaStore', 'KoaStore', 'KoaStoreOptions', 'KoaSession']) {
    assert.ok(imported.includes(name), `${name} is not declared`);
  }
});

/** The names, types included, that a declaration file exports (through `export =` for a .d.cts). */
function declaredNames(program: ts.Program, file: string): string[] {
  const source = program.getSourceFile(file);
  const moduleSymbol =
    source === undefined ? undefined : program.getTypeChecker().getSymbolAtLocation(source);
  assert.ok(moduleSymbol !== undefined, `${file} is not a module`);
  return program
    .getTypeChecker()
    .getExportsOfModule(moduleSymbol)
    .map((symbol) => symbol.name)
    .sort();
}

test('dist/index.d.ts and dist/index.d.cts declare the same names, types included', () => {
  const esm = join(ROOT, 'dist', 'index.d.ts');
  const cjs = join(ROOT, 'dist', 'index.d.cts');
  const program = ts.createProgram([esm, cjs], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  });
  const imported = declaredNames(program, esm);
  const required = declaredNames(program, cjs);

  assert.deepEqual(
    required,
    imported.filter((name) => name !== 'default'),
  );
  assert.ok(imported.includes('default'), 'dist/index.d.ts has no default export');
  for (const name of VALUE_NAMES) assert.ok(required.includes(name), `${name} is not declared`);
});

interface WithoutExpressSession {
  readonly expressSessionResolvable: boolean;
  readonly importDefault: string;
  readonly requireType: string;
  readonly repositoryClassTypes: readonly [string, string];
  readonly stores: {
    readonly errors: readonly string[];
    readonly emitters: readonly [boolean, boolean];
    readonly closed: readonly [boolean, boolean];
  };
  readonly repositoryCollection: string;
  readonly repositoryClosed: boolean;
  readonly koa: {
    readonly types: readonly [string, string];
    readonly storeCollection: string;
    readonly closed: boolean;
  };
}

// Runs in a directory whose node_modules holds the built package, mongodb and p-queue only.
const WITHOUT_EXPRESS_SESSION_SCRIPT = `
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
let expressSessionResolvable = true;
try { require.resolve('express-session'); } catch { expressSessionResolvable = false; }
const esm = await import('connect-mongodb-session');
const cjs = require('connect-mongodb-session');
const stores = { errors: [], emitters: [], closed: [] };
for (const entry of [esm, cjs]) {
  try {
    const store = new entry.MongoDBStore({ uri: 'mongodb://127.0.0.1:9/unused' });
    stores.emitters.push(store instanceof EventEmitter);
    await store.close();
    stores.closed.push(store.repository.closed);
  } catch (error) {
    stores.errors.push(error.name + ': ' + error.message);
  }
}
const repository = new esm.SessionRepository({ uri: 'mongodb://127.0.0.1:9/unused', collection: 'standalone' });
const repositoryCollection = repository.options.collectionName;
await repository.close();
const koaEsm = await import('connect-mongodb-session/koa');
const koaCjs = require('connect-mongodb-session/koa');
const koaStore = koaEsm.koaStore({ uri: 'mongodb://127.0.0.1:9/unused', collection: 'koa' });
const storeCollection = koaStore.repository.options.collectionName;
await koaStore.close();
process.stdout.write(JSON.stringify({
  koa: {
    types: [typeof koaCjs.koaStore, typeof koaEsm.koaStore],
    storeCollection,
    closed: koaStore.repository.closed,
  },
  expressSessionResolvable,
  importDefault: typeof esm.default,
  requireType: typeof cjs,
  repositoryClassTypes: [typeof cjs.SessionRepository, typeof esm.SessionRepository],
  stores,
  repositoryCollection,
  repositoryClosed: true,
}));
`;

let withoutExpressSessionRun: Promise<WithoutExpressSession> | undefined;

/** The report of one plain-node run without express-session, shared by the tests below. */
function withoutExpressSession(): Promise<WithoutExpressSession> {
  withoutExpressSessionRun ??= runWithoutExpressSession();
  return withoutExpressSessionRun;
}

function runWithoutExpressSession(): Promise<WithoutExpressSession> {
  return runInSandbox<WithoutExpressSession>(WITHOUT_EXPRESS_SESSION_SCRIPT, {
    mongodb: 'mongodb',
    'p-queue': 'p-queue',
  });
}

test('without express-session both entry points still load', async () => {
  const report = await withoutExpressSession();

  assert.equal(report.expressSessionResolvable, false, 'express-session was resolvable');
  assert.equal(report.importDefault, 'function');
  assert.equal(report.requireType, 'function');
  assert.deepEqual(report.repositoryClassTypes, ['function', 'function']);
});

test('without express-session SessionRepository can be constructed and closed', async () => {
  const report = await withoutExpressSession();

  assert.equal(report.repositoryCollection, 'standalone');
  assert.equal(report.repositoryClosed, true);
});

test('without express-session the koa entry loads through import and require, and its store is made and closed', async () => {
  const report = await withoutExpressSession();

  assert.deepEqual(report.koa, {
    types: ['function', 'function'],
    storeCollection: 'koa',
    closed: true,
  });
});

test('without express-session MongoDBStore is constructed and closed through import and require, an event emitter (for @fastify/session)', async () => {
  const report = await withoutExpressSession();

  assert.deepEqual(report.stores, { errors: [], emitters: [true, true], closed: [true, true] });
});
