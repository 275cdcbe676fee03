/**
 * Version 5's public surface, used as version 5's users use it: CommonJS `require` of the built
 * package (`dist/index.cjs`, through the package's self-reference) and Node-style callbacks.
 * The two README examples run as JavaScript source, unchanged but for the connection string and
 * the listening port (3000 becomes a free port of 127.0.0.1); the second keeps the assertions
 * that version 5's own test put in its callbacks (its README printed them as comments).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { type TestContext, test } from 'node:test';
import { compileFunction } from 'node:vm';
import type { SessionData } from 'express-session';
import type { Document } from 'mongodb';
import type { MongoDBStore, MongoDBStoreOptions } from '../lib/index.js';
import { useSpecDatabase } from './support/database.js';
import { HttpClient, sessionIdOf } from './support/http.js';
import { closedPort } from './support/tcp-proxy.js';

declare module 'express-session' {
  interface SessionData {
    views?: number;
  }
}

type Package = typeof import('../lib/commonjs.js').default;

const require = createRequire(import.meta.url);
const HOUR_MS = 60 * 60 * 1000;

const database = useSpecDatabase(import.meta.url);

/** The connection string of the test server with the spec file's database as its path. */
function uriWithDatabase(): string {
  const [hosts = '', query] = database.uri.split('?');
  const base = hosts.replace(/^(mongodb(?:\+srv)?:\/\/[^/]+).*$/, '$1');
  return `${base}/${database.databaseName}${query === undefined ? '' : `?${query}`}`;
}

interface Example {
  readonly store: MongoDBStore;
  readonly server: Server;
  readonly url: string;
}

/**
 * Runs an example as version 5's tests did: a CommonJS function body with `require`, `assert`
 * and `done` in scope, whose `server = app.listen(…)` assigns the harness's `server`. Server
 * and store are closed when the test ends.
 */
async function runExample(t: TestContext, source: string, done = () => {}): Promise<Example> {
  const example = compileFunction(
    `${source}\nreturn { store: store, server: server };`,
    ['require', 'assert', 'done', 'server'],
    { filename: 'v5-readme-example.js' },
  );
  const { store, server } = example(require, assert, done, undefined) as Omit<Example, 'url'>;
  t.after(async () => {
    server.closeAllConnections();
    if (server.listening) {
      server.close();
      await once(server, 'close');
    }
    await store.close();
  });
  if (!server.listening) await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { store, server, url: `http://127.0.0.1:${address.port}` };
}

/** Version 5's "It can store sessions for Express 4". */
function expressExample(uri: string): string {
  return `
var express = require('express');
var session = require('express-session');
var MongoDBStore = require('connect-mongodb-session')(session);

var app = express();
var store = new MongoDBStore({
  uri: '${uri}',
  collection: 'mySessions'
});

// Catch errors
store.on('error', function(error) {
  assert.ifError(error);
  assert.ok(false);
});

app.use(require('express-session')({
  secret: 'This is a secret',
  cookie: {
    maxAge: 1000 * 60 * 60 * 24 * 7 // 1 week
  },
  store: store,
  // Boilerplate options, see:
  // * https://www.npmjs.com/package/express-session#resave
  // * https://www.npmjs.com/package/express-session#saveuninitialized
  resave: true,
  saveUninitialized: true
}));

app.get('/', function(req, res) {
  res.send('Hello ' + JSON.stringify(req.session));
});

server = app.listen(0, '127.0.0.1');
`;
}

/** Version 5's "It throws an error when it can't connect to MongoDB", with its test's assertions. */
function cannotConnectExample(port: number): string {
  return `
var express = require('express');
var session = require('express-session');
var MongoDBStore = require('connect-mongodb-session')(session);

var app = express();
var numExpectedSources = 2;
var store = new MongoDBStore(
  {
    uri: 'mongodb://127.0.0.1:${port}/connect_mongodb_session_test?connectTimeoutMS=10&serverSelectionTimeoutMS=300',
    databaseName: 'connect_mongodb_session_test',
    collection: 'mySessions'
  },
  function(error) {
    // Should have gotten an error
    assert.ok(error);
    --numExpectedSources || done();
  });

store.on('error', function(error) {
  // Also get an error here
  assert.ok(error);
  --numExpectedSources || done();
});

app.use(session({
  secret: 'This is a secret',
  cookie: {
    maxAge: 1000 * 60 * 60 * 24 * 7 // 1 week
  },
  store: store,
  // Boilerplate options, see:
  // * https://www.npmjs.com/package/express-session#resave
  // * https://www.npmjs.com/package/express-session#saveuninitialized
  resave: true,
  saveUninitialized: true
}));

app.get('/', function(req, res) {
  res.send('Hello ' + JSON.stringify(req.session));
});

server = app.listen(0, '127.0.0.1');
`;
}

/** The package as version 5's users load it. */
function connectMongoDBSession(): Package {
  return require('connect-mongodb-session') as Package;
}

let storeCount = 0;

/** A version 5 style store (factory, options, constructor callback) on a collection of its own. */
async function openV5Store(
  t: TestContext,
  options: Record<string, unknown> = {},
): Promise<MongoDBStore> {
  storeCount += 1;
  const Store = connectMongoDBSession()(require('express-session'));
  let settle: (error?: Error) => void = () => {};
  const connected = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  const store = new Store(
    { uri: uriWithDatabase(), collection: `v5_${storeCount}`, ...options } as MongoDBStoreOptions,
    (error) => settle(error),
  );
  t.after(() => store.close());
  await connected;
  return store;
}

function sessionWith(
  views: number,
  expires: Date | null = new Date(Date.now() + HOUR_MS),
): SessionData {
  return {
    cookie: { originalMaxAge: expires === null ? null : HOUR_MS, expires, path: '/' },
    views,
  };
}

/** Calls a version 5 style method and turns its callback into a promise. */
function callback<T>(call: (done: (error: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    call((error, value) => (error === null ? resolve(value as T) : reject(error)));
  });
}

test("require('connect-mongodb-session') resolves to the built CommonJS entry", () => {
  assert.match(require.resolve('connect-mongodb-session'), /[\\/]dist[\\/]index\.cjs$/);
  assert.equal(typeof connectMongoDBSession(), 'function');
});

test("version 5's Express 4 example answers Hello with the session and stores it in mySessions", async (t) => {
  const { url } = await runExample(t, expressExample(uriWithDatabase()));
  const browser = new HttpClient(url);

  const response = await browser.get('/');

  assert.equal(response.status, 200);
  assert.ok(response.body.startsWith('Hello {"cookie"'), response.body);
  assert.equal(response.setCookies.length, 1);
  const sid = sessionIdOf(browser.cookie('connect.sid'));
  const stored = await database.db.collection('mySessions').findOne({ _id: sid } as Document);
  assert.ok(stored !== null, 'no session document in mySessions');
  assert.ok(stored.expires instanceof Date);
});

test("version 5's Express 4 example recognises its cookie on the next request without setting it again", async (t) => {
  const { url } = await runExample(t, expressExample(uriWithDatabase()));
  const browser = new HttpClient(url);
  const first = await browser.get('/');

  const second = await browser.get('/');

  assert.equal(second.status, 200);
  assert.deepEqual(second.setCookies, []);
  // express-session recomputes originalMaxAge as expires minus now when it sets a cookie's
  // expiry, so a clock tick between its two readings can cost a millisecond under load.
  const maxAgeOf = (body: string) =>
    (JSON.parse(body.slice('Hello '.length)) as SessionData).cookie.originalMaxAge ?? Number.NaN;
  assert.ok(
    Math.abs(maxAgeOf(second.body) - maxAgeOf(first.body)) <= 5,
    `the stored cookie came back: ${maxAgeOf(second.body)} against ${maxAgeOf(first.body)}`,
  );
});

test("version 5's Express 4 example store exposes client and db once connected", async (t) => {
  const { store } = await runExample(t, expressExample(uriWithDatabase()));

  if (store.collection === undefined) await once(store, 'connected');

  assert.ok(store.client);
  assert.equal(store.db?.databaseName, database.databaseName);
});

test("version 5's clear(callback) empties the example's collection", async (t) => {
  const { store, url } = await runExample(t, expressExample(uriWithDatabase()));
  await new HttpClient(url).get('/');
  assert.ok((await database.db.collection('mySessions').countDocuments()) > 0);

  await callback<void>((done) => store.clear(done));

  assert.equal(await database.db.collection('mySessions').countDocuments(), 0);
});

test("version 5's cannot-connect example gets the error in the constructor callback and in the error event", async (t) => {
  let finished: () => void = () => {};
  const bothReported = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const { store } = await runExample(t, cannotConnectExample(await closedPort()), () => finished());
  const errorEvent = once(store, 'error');

  await bothReported;

  const [error] = (await errorEvent) as [unknown];
  assert.ok(error instanceof connectMongoDBSession().ConnectionError);
  assert.equal(error.code, 'CONNECTION_FAILED');
});

test("version 5's option names are accepted and resolved", async (t) => {
  const store = await openV5Store(t, {
    databaseName: database.databaseName,
    collection: 'v5Options',
    expires: 1000 * 60 * 60 * 24 * 14,
    idField: 'sessionId',
    expiresKey: 'expiresAt',
    expiresAfterSeconds: 60,
    connectionOptions: { serverSelectionTimeoutMS: 5000 },
  });

  const { options } = store;
  assert.equal(options.databaseName, database.databaseName);
  assert.equal(options.collection, 'v5Options');
  assert.equal(options.expires, 1000 * 60 * 60 * 24 * 14);
  assert.equal(options.idField, 'sessionId');
  assert.equal(options.expiresKey, 'expiresAt');
  assert.equal(options.expiresAfterSeconds, 60);
  assert.equal(options.uri, uriWithDatabase());
  assert.deepEqual(options.connectionOptions, { serverSelectionTimeoutMS: 5000 });
});

test('the expires option sets the expiry of a session whose cookie has none', async (t) => {
  const store = await openV5Store(t, { expires: 60_000 });
  const setAt = Date.now();

  await callback<void>((done) => store.set('no-expiry', sessionWith(1, null), done));

  const stored = await store.collection?.findOne({ _id: 'no-expiry' } as Document);
  assert.ok(stored?.expires instanceof Date);
  assert.ok(stored.expires.getTime() >= setAt + 60_000);
  assert.ok(stored.expires.getTime() <= Date.now() + 60_000);
});

test('a custom idField stores the session id in that field, and get finds the session by it', async (t) => {
  const store = await openV5Store(t, { idField: 'sessionId' });

  await callback<void>((done) => store.set('custom-id', sessionWith(7), done));

  const stored = await store.collection?.findOne({ sessionId: 'custom-id' });
  assert.ok(stored !== null && stored !== undefined);
  assert.notEqual(stored._id, 'custom-id');
  const found = await callback<SessionData | null>((done) => store.get('custom-id', done));
  assert.equal(found?.views, 7);
});

test('a custom expiresKey holds the expiry date in that field', async (t) => {
  const store = await openV5Store(t, { expiresKey: 'expiresAt' });
  const expires = new Date(Date.now() + HOUR_MS);

  await callback<void>((done) => store.set('custom-expiry', sessionWith(1, expires), done));

  const stored = await store.collection?.findOne({ _id: 'custom-expiry' } as Document);
  assert.ok(stored !== null && stored !== undefined);
  assert.equal((stored.expiresAt as Date).getTime(), expires.getTime());
  assert.equal('expires' in stored, false);
});

test('get does not return a session expired under a custom expiresKey, unlike version 5', async (t) => {
  const store = await openV5Store(t, { expiresKey: 'expiresAt' });
  await database.db
    .collection<{ _id: string; session: SessionData; expiresAt: Date }>(store.options.collection)
    .insertMany([
      {
        _id: 'expired',
        session: sessionWith(1, new Date(Date.now() - HOUR_MS)),
        expiresAt: new Date(Date.now() - 1000),
      },
      {
        _id: 'current',
        session: sessionWith(2),
        expiresAt: new Date(Date.now() + HOUR_MS),
      },
    ]);

  const expired = await callback<SessionData | null>((done) => store.get('expired', done));
  const current = await callback<SessionData | null>((done) => store.get('current', done));

  assert.equal(expired, null);
  assert.equal(current?.views, 2);
});

test('the factory accepts the Connect 2 shape { session: { Store } }', () => {
  const expressSession = require('express-session') as typeof import('express-session');

  const Store = connectMongoDBSession()({ session: { Store: expressSession.Store } });

  assert.equal(typeof Store, 'function');
  assert.equal(Store, connectMongoDBSession()(expressSession));
  assert.ok(Store.prototype instanceof expressSession.Store);
});

test('the factory called with express-session returns the named MongoDBStore class', () => {
  const pkg = connectMongoDBSession();

  assert.equal(pkg(require('express-session')), pkg.MongoDBStore);
});

test('the factory rejects a module without a Store class with a TypeError', () => {
  const pkg = connectMongoDBSession();

  assert.throws(() => pkg({} as Parameters<Package>[0]), TypeError);
});

test('the factory-built store answers version 5 style callbacks', async (t) => {
  const store = await openV5Store(t);

  await callback<void>((done) => store.set('callback-style', sessionWith(3), done));
  const found = await callback<SessionData | null>((done) => store.get('callback-style', done));
  const length = await callback<number>((done) => store.length(done));
  await callback<void>((done) => store.destroy('callback-style', done));

  assert.equal(found?.views, 3);
  assert.equal(length, 1);
  assert.equal(
    await callback<SessionData | null>((done) => store.get('callback-style', done)),
    null,
  );
});
