/**
 * The built package on version 6 of the MongoDB driver (the peer range is `^6 || ^7`; the rest
 * of the suite runs on 7). A sandbox installs driver 6 as `mongodb` next to the package.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { useSpecDatabase } from './support/database.js';
import { ROOT, runInSandbox } from './support/sandbox.js';

const database = useSpecDatabase(import.meta.url);

before(() => {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` before this spec (`npm test` does).');
  }
});

interface DriverReport {
  readonly driverVersion: string;
  readonly views: number | null;
  readonly length: number;
  readonly ids: string[];
  readonly contendedDocuments: number;
  readonly invalidIdCode: string | null;
  readonly tooLargeCode: string | null;
  readonly afterDestroy: number;
  readonly storeEvent: string;
  readonly storeViews: number | null;
}

const SCRIPT = `
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const { MongoDBStore, SessionRepository } = await import('connect-mongodb-session');
const { TEST_URI: uri, TEST_DB: databaseName } = process.env;
const codeOf = (promise) => promise.then(() => null, (error) => error.code ?? error.name);

const repository = new SessionRepository({ uri, databaseName, collection: 'driver6', idField: 'sid' });
await repository.ready();
const expires = new Date(Date.now() + 3_600_000);
await Promise.all(Array.from({ length: 10 }, (_, views) => repository.set('contended', { cookie: { expires }, views })));
await repository.set('a', { cookie: { expires }, views: 1 });
const views = (await repository.get('a'))?.views ?? null;
await repository.touch('a', { cookie: { expires: new Date(Date.now() + 7_200_000) } });
const length = await repository.length();
const ids = (await repository.ids()).sort();
const contendedDocuments = await repository.collection.countDocuments({ sid: 'contended' });
const invalidIdCode = await codeOf(repository.get({ $ne: null }));
const tooLargeCode = await codeOf(repository.set('big', { user: 'x'.repeat(17 * 1024 * 1024) }));
await repository.destroy(['a', 'contended']);
const afterDestroy = await repository.length();
await repository.close();

const store = new MongoDBStore({ uri, databaseName, collection: 'driver6_store' });
const storeEvent = await new Promise((resolve) => {
  store.once('connected', () => resolve('connected'));
  store.once('error', (error) => resolve(error.code));
});
await store.set('s', { cookie: { expires }, views: 2 });
const storeViews = (await store.get('s'))?.views ?? null;
await store.close();

process.stdout.write(JSON.stringify({
  driverVersion: require('mongodb/package.json').version,
  views, length, ids, contendedDocuments, invalidIdCode, tooLargeCode, afterDestroy, storeEvent, storeViews,
}));
`;

let report: Promise<DriverReport> | undefined;

/** One sandbox run on driver 6, shared by the tests below. */
function onDriver6(): Promise<DriverReport> {
  report ??= runInSandbox<DriverReport>(
    SCRIPT,
    { mongodb: 'mongodb6', 'p-queue': 'p-queue', 'express-session': 'express-session' },
    { TEST_URI: database.uri, TEST_DB: database.databaseName },
  );
  return report;
}

test('the sandbox really runs on driver 6', async () => {
  assert.match((await onDriver6()).driverVersion, /^6\./);
});

test('on driver 6 the repository reads, writes, touches, counts and destroys sessions', async () => {
  const result = await onDriver6();
  assert.equal(result.views, 1);
  assert.equal(result.length, 2);
  assert.deepEqual(result.ids, ['a', 'contended']);
  assert.equal(result.afterDestroy, 0);
});

test('on driver 6 concurrent sets of one id leave one document', async () => {
  assert.equal((await onDriver6()).contendedDocuments, 1);
});

test('on driver 6 errors keep their types and codes', async () => {
  const result = await onDriver6();
  assert.equal(result.invalidIdCode, 'INVALID_SESSION_ID');
  assert.equal(result.tooLargeCode, 'INVALID_SESSION', 'refused before it is sent');
});

test('on driver 6 MongoDBStore connects and serves sessions', async () => {
  const result = await onDriver6();
  assert.equal(result.storeEvent, 'connected');
  assert.equal(result.storeViews, 2);
});

interface ForeignClientReport {
  readonly packageDriver: string;
  readonly clientDriver: string;
  readonly ready: string;
  readonly ttlIndex: string;
  readonly uniqueIndex: string;
  readonly contendedDocuments: number;
}

// The package resolves driver 7 as `mongodb`; the app hands it a client of driver 6.
const FOREIGN_CLIENT_SCRIPT = `
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const { SessionRepository } = await import('connect-mongodb-session');
const { MongoClient } = require('app-mongodb');
const client = await new MongoClient(process.env.TEST_URI).connect();
const repository = new SessionRepository({ client, databaseName: process.env.TEST_DB, collection: 'foreign', idField: 'sid' });
const ready = await repository.ready().then(() => 'ready', (error) => error.code);
const expires = new Date(Date.now() + 3_600_000);
await Promise.all(Array.from({ length: 10 }, (_, views) => repository.set('contended', { cookie: { expires }, views })));
const indexes = await repository.whenIndexed();
const contendedDocuments = await repository.collection.countDocuments({ sid: 'contended' });
await repository.close();
await client.close();
process.stdout.write(JSON.stringify({
  packageDriver: require('mongodb/package.json').version,
  clientDriver: require('app-mongodb/package.json').version,
  ready, ttlIndex: indexes.ttl, uniqueIndex: indexes.unique, contendedDocuments,
}));
`;

test('a client from another copy of the driver is served like one of its own', async () => {
  const result = await runInSandbox<ForeignClientReport>(
    FOREIGN_CLIENT_SCRIPT,
    { mongodb: 'mongodb', 'app-mongodb': 'mongodb6', 'p-queue': 'p-queue' },
    { TEST_URI: database.uri, TEST_DB: database.databaseName },
  );
  assert.match(result.packageDriver, /^7\./);
  assert.match(result.clientDriver, /^6\./);
  // Server errors of the foreign driver are still recognised: no TTL on FerretDB is not a failure.
  assert.equal(result.ready, 'ready');
  assert.ok(['ensured', 'unsupported'].includes(result.ttlIndex), `TTL index: ${result.ttlIndex}`);
  assert.equal(result.uniqueIndex, 'ensured');
  assert.equal(result.contendedDocuments, 1);
});
