/**
 * Switching an app to this store logs nobody out: sessions written by the real connect-mongo 6
 * (JSON string and document forms, with `touchAfter`'s `lastModified`) and by the real
 * connect-mongodb-session 5 are read over HTTP by the same app switched to this store, with the
 * same cookie, and are in this store's form after the next write.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { type TestContext, test } from 'node:test';
import express from 'express';
import session, { type Store } from 'express-session';
import type { Document } from 'mongodb';
import { MongoDBStore } from '../lib/index.js';
import { useSpecDatabase } from './support/database.js';
import { HttpClient, listen } from './support/http.js';

declare module 'express-session' {
  interface SessionData {
    user?: string;
    visits?: number;
  }
}

const require = createRequire(import.meta.url);
const database = useSpecDatabase(import.meta.url);
const SECRET = 'switching stores keeps everyone logged in';
let collectionCount = 0;

/** The same app whatever its store: log in, see who you are, count visits. */
function appWith(store: Store) {
  const app = express();
  app.use(
    session({
      store,
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60 * 60 * 1000 },
    }),
  );
  app.post('/login', (req, res, next) => {
    req.session.user = 'ann';
    req.session.save((error) => (error ? next(error) : res.send('logged in')));
  });
  app.get('/me', (req, res) => {
    res.send(req.session.user ?? 'nobody');
  });
  app.post('/visit', (req, res, next) => {
    req.session.visits = (req.session.visits ?? 0) + 1;
    req.session.save((error) => (error ? next(error) : res.send(String(req.session.visits))));
  });
  return app;
}

/** Logs in through an app on `store`, and returns the browser holding its cookie. */
async function logInWith(t: TestContext, store: Store): Promise<HttpClient> {
  const server = await listen(appWith(store));
  t.after(() => server.close());
  const browser = new HttpClient(server.url);
  assert.equal((await browser.post('/login')).body, 'logged in');
  assert.equal((await browser.get('/me')).body, 'ann');
  return browser;
}

/** Points `browser` at an app on this store over `collection`, and checks it is still logged in. */
async function switchToThisStore(t: TestContext, browser: HttpClient, collection: string) {
  const store = new MongoDBStore({
    uri: database.uri,
    databaseName: database.databaseName,
    collection,
  });
  t.after(() => store.close());
  const server = await listen(appWith(store));
  t.after(() => server.close());
  const switched = new HttpClient(server.url);
  switched.setCookie('connect.sid', browser.cookie('connect.sid') ?? '');
  assert.equal((await switched.get('/me')).body, 'ann', 'still logged in after the switch');
  return switched;
}

async function storedDocuments(collection: string): Promise<Document[]> {
  return database.db.collection(collection).find({}).toArray();
}

/** connect-mongo 6 on `collection`, as configured on a server without TTL indexes; closed with the test. */
function connectMongo6(
  t: TestContext,
  collection: string,
  options: { stringify?: boolean; touchAfter?: number } = {},
): Store {
  const { default: MongoStore } = require('connect-mongo6') as typeof import('connect-mongo6');
  const store = MongoStore.create({
    mongoUrl: database.uri,
    dbName: database.databaseName,
    collectionName: collection,
    autoRemove: 'disabled',
    ...options,
  });
  t.after(() => store.close());
  return store;
}

function nextCollection(): string {
  collectionCount += 1;
  return `switching_${collectionCount}`;
}

test('a session written by connect-mongo 6 (JSON string, its default) is read after switching, and rewritten in this store’s form on the next write', async (t) => {
  const collection = nextCollection();
  const theirs = connectMongo6(t, collection);
  const browser = await logInWith(t, theirs);
  const [before] = await storedDocuments(collection);
  assert.equal(typeof before?.session, 'string', 'connect-mongo stored a JSON string');

  const switched = await switchToThisStore(t, browser, collection);
  assert.equal((await switched.post('/visit')).body, '1');
  const [after] = await storedDocuments(collection);
  assert.equal(typeof after?.session, 'object');
  assert.equal((after?.session as { user?: string } | undefined)?.user, 'ann');
  assert.equal((await switched.get('/me')).body, 'ann');
});

test('a session written by connect-mongo 6 with stringify: false and touchAfter is read after switching', async (t) => {
  const collection = nextCollection();
  const theirs = connectMongo6(t, collection, { stringify: false, touchAfter: 3600 });
  const browser = await logInWith(t, theirs);
  const [before] = await storedDocuments(collection);
  assert.equal(typeof before?.session, 'object');
  assert.ok(before?.lastModified instanceof Date, 'touchAfter adds lastModified');

  const switched = await switchToThisStore(t, browser, collection);
  assert.equal((await switched.post('/visit')).body, '1');
  assert.equal((await switched.get('/me')).body, 'ann');
});

test('a session written by connect-mongodb-session 5 is read after switching', async (t) => {
  const connectMongoDBSession5 = require('connect-mongodb-session5') as (
    module: typeof session,
  ) => new (
    options: Record<string, unknown>,
  ) => Store & { client: { close(): Promise<void> } };
  const Version5Store = connectMongoDBSession5(session);
  const collection = nextCollection();
  const theirs = new Version5Store({
    uri: database.uri,
    databaseName: database.databaseName,
    collection,
  });
  // Version 5 reports the test server's lack of TTL indexes as an error; without a listener it throws.
  theirs.on('error', () => undefined);
  t.after(() => theirs.client.close());
  const browser = await logInWith(t, theirs);
  const [before] = await storedDocuments(collection);
  assert.equal(typeof before?.session, 'object');

  const switched = await switchToThisStore(t, browser, collection);
  assert.equal((await switched.post('/visit')).body, '1');
  assert.equal((await switched.get('/me')).body, 'ann');
});
