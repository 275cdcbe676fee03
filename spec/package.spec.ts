/**
 * The built package as users consume it: `require` (dist/index.cjs) and `import` (dist/index.js),
 * both resolved through the package's self-reference. Run `npm run build` first (`npm test` does).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { PACKAGE, ROOT, runInSandbox, runNode } from './support/sandbox.js';

const CLASS_NAMES = [
  'MongoDBStore',
  'SessionRepository',
  'SessionStoreError',
  'ConnectionError',
  'QueueFullError',
  'StoreClosedError',
  'OperationError',
  'IndexError',
  'InvalidSessionIdError',
  'InvalidSessionError',
  'OperationTimeoutError',
  'UnreadableSessionError',
  'SessionDecryptionError',
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
  readonly requireClassTypes: Record<string, string>;
  readonly importDefaultType: string;
  readonly importClassTypes: Record<string, string>;
  readonly sameClasses: Record<string, boolean>;
  readonly sameFactoryResult: boolean;
  readonly factoryResultIsNamedStore: boolean;
  readonly crossInstanceof: Record<string, boolean>;
  readonly connectionErrorCode: string;
  readonly storeExtendsExpressSessionStore: boolean;
}

// Runs in the package's directory, so that its name resolves through the self-reference.
const ENTRY_POINTS_SCRIPT = `
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const names = ${JSON.stringify(CLASS_NAMES)};
const cjs = require('${PACKAGE}');
const esm = await import('${PACKAGE}');
const expressSession = require('express-session');
const typesOf = (entry) => Object.fromEntries(names.map((name) => [name, typeof entry[name]]));
const invalid = new cjs.InvalidSessionIdError(42);
const connection = new esm.ConnectionError(new Error('refused'));
process.stdout.write(JSON.stringify({
  requireResolved: require.resolve('${PACKAGE}'),
  importResolved: import.meta.resolve('${PACKAGE}'),
  requireType: typeof cjs,
  requireClassTypes: typesOf(cjs),
  importDefaultType: typeof esm.default,
  importClassTypes: typesOf(esm),
  sameClasses: Object.fromEntries(names.map((name) => [name, cjs[name] === esm[name]])),
  sameFactoryResult: cjs(expressSession) === esm.default(expressSession),
  factoryResultIsNamedStore: esm.default(expressSession) === esm.MongoDBStore,
  crossInstanceof: {
    'required InvalidSessionIdError is an imported InvalidSessionIdError': invalid instanceof esm.InvalidSessionIdError,
    'required InvalidSessionIdError is a TypeError': invalid instanceof TypeError,
    'imported ConnectionError is a required ConnectionError': connection instanceof cjs.ConnectionError,
    'imported ConnectionError is a required SessionStoreError': connection instanceof cjs.SessionStoreError,
  },
  connectionErrorCode: connection.code,
  storeExtendsExpressSessionStore: esm.MongoDBStore.prototype instanceof expressSession.Store,
}));
`;

let entryPointsRun: Promise<EntryPoints> | undefined;

/** The report of one plain-node run, shared by the tests below. */
function entryPoints(): Promise<EntryPoints> {
  entryPointsRun ??= runNode<EntryPoints>(ENTRY_POINTS_SCRIPT, ROOT);
  return entryPointsRun;
}

const allFunctions = Object.fromEntries(CLASS_NAMES.map((name) => [name, 'function']));

test('require returns version 5’s factory function with the named exports attached', async () => {
  const report = await entryPoints();

  assert.equal(report.requireType, 'function');
  assert.deepEqual(report.requireClassTypes, allFunctions);
});

test('require resolves to dist/index.cjs and import to dist/index.js', async () => {
  const report = await entryPoints();

  assert.equal(report.requireResolved, join(ROOT, 'dist', 'index.cjs'));
  assert.equal(report.importResolved, pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
});

test('import gives the factory as the default export and the named classes', async () => {
  const report = await entryPoints();

  assert.equal(report.importDefaultType, 'function');
  assert.deepEqual(report.importClassTypes, allFunctions);
});

test('require and import give the very same classes', async () => {
  const report = await entryPoints();

  assert.deepEqual(report.sameClasses, Object.fromEntries(CLASS_NAMES.map((name) => [name, true])));
});

test('the factory returns the same store class through require and import, the named MongoDBStore', async () => {
  const report = await entryPoints();

  assert.equal(report.sameFactoryResult, true);
  assert.equal(report.factoryResultIsNamedStore, true);
});

test('errors made through one entry point are instances of the other’s classes', async () => {
  const report = await entryPoints();

  for (const [claim, holds] of Object.entries(report.crossInstanceof)) assert.ok(holds, claim);
  assert.equal(report.connectionErrorCode, 'CONNECTION_FAILED');
});

test('the named MongoDBStore is built on the installed express-session Store', async () => {
  const report = await entryPoints();

  assert.equal(report.storeExtendsExpressSessionStore, true);
});

interface WithoutExpressSession {
  readonly expressSessionResolvable: boolean;
  readonly importDefault: string;
  readonly requireType: string;
  readonly sameRepositoryClass: boolean;
  readonly storeError: { readonly name: string; readonly message: string } | null;
  readonly repositoryCollection: string;
  readonly repositoryClosed: boolean;
}

// Runs in a directory whose node_modules holds the built package, mongodb and p-queue only.
const WITHOUT_EXPRESS_SESSION_SCRIPT = `
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
let expressSessionResolvable = true;
try { require.resolve('express-session'); } catch { expressSessionResolvable = false; }
const esm = await import('connect-mongodb-session');
const cjs = require('connect-mongodb-session');
let storeError = null;
try {
  new esm.MongoDBStore({ uri: 'mongodb://127.0.0.1:9/unused' });
} catch (error) {
  storeError = { name: error.name, message: error.message };
}
const repository = new esm.SessionRepository({ uri: 'mongodb://127.0.0.1:9/unused', collection: 'standalone' });
const repositoryCollection = repository.options.collection;
await repository.close();
process.stdout.write(JSON.stringify({
  expressSessionResolvable,
  importDefault: typeof esm.default,
  requireType: typeof cjs,
  sameRepositoryClass: cjs.SessionRepository === esm.SessionRepository,
  storeError,
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
  assert.equal(report.sameRepositoryClass, true);
});

test('without express-session SessionRepository can be constructed and closed', async () => {
  const report = await withoutExpressSession();

  assert.equal(report.repositoryCollection, 'standalone');
  assert.equal(report.repositoryClosed, true);
});

test('without express-session constructing MongoDBStore throws an error that names express-session', async () => {
  const report = await withoutExpressSession();

  assert.ok(report.storeError !== null, 'MongoDBStore was constructed');
  assert.match(report.storeError.message, /express-session/);
});
