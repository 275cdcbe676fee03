/**
 * Sessions at rest on the real test server: `hashSessionId` keeps cookies out of the collection,
 * and `encryption` keeps session data out of it, with key rotation; login, regenerate and logout
 * keep working over HTTP through express-session.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import express from 'express';
import session from 'express-session';
import { BSON, type Document } from 'mongodb';
import { isSealed } from '../lib/codec/session-crypto.js';
import {
  type EncryptionKey,
  hashSessionId,
  MongoDBStore,
  type MongoDBStoreOptions,
  SessionDecryptionError,
  type TransformId,
} from '../lib/index.js';
import { useSpecDatabase } from './support/database.js';
import { until } from './support/faults.js';
import { HttpClient, listen, sessionIdOf } from './support/http.js';

declare module 'express-session' {
  interface SessionData {
    views?: number;
    user?: string;
  }
}

const database = useSpecDatabase(import.meta.url);

const HOUR = 60 * 60 * 1000;
const KEY = 'key-marker-6a0c';
const VALUE = 'value-marker-e4d2';
const COOKIE = 'connect.sid';

const keyOf = (id: string): EncryptionKey => ({ id, key: randomBytes(32) });

let collectionCount = 0;
function nextCollection(): string {
  collectionCount += 1;
  return `at_rest_${collectionCount}`;
}

/** A store on `collection`, whose `error` events are kept; closed when `t` ends. */
function storeOn(t: TestContext, collection: string, options: MongoDBStoreOptions = {}) {
  const store = new MongoDBStore({
    uri: database.uri,
    databaseName: database.databaseName,
    collection,
    ...options,
  });
  const errors: unknown[] = [];
  store.on('error', (error: unknown) => errors.push(error));
  t.after(() => store.close());
  return { store, errors };
}

const data = (): session.SessionData =>
  ({
    cookie: { expires: new Date(Date.now() + HOUR), originalMaxAge: HOUR, path: '/' },
    user: 'ada',
    [KEY]: { value: VALUE, at: new Date(0), bytes: Buffer.from([1, 2, 3]) },
  }) as unknown as session.SessionData;

/** The raw BSON of every document of `collection`. */
async function rawDocuments(collection: string): Promise<Buffer[]> {
  const documents = await database.db.collection(collection).find({}, { raw: true }).toArray();
  return documents.map((document) => Buffer.from(document as unknown as Uint8Array));
}

/** The key id a sealed session was written with. */
function keyIdOf(stored: unknown): string {
  assert.ok(isSealed(stored), 'the session is encrypted');
  const bytes = Buffer.from(
    stored instanceof BSON.Binary ? stored.buffer.subarray(0, stored.position) : stored,
  );
  return bytes.toString('utf8', 3, 3 + (bytes[2] ?? 0));
}

/**
 * An Express app counting visits (`GET /count`), logging in with `regenerate` (`POST /login`)
 * and out with `destroy` (`POST /logout`), on `store`.
 */
async function appOn(t: TestContext, store: MongoDBStore): Promise<string> {
  const app = express();
  app.use(
    session({
      store,
      secret: 'at-rest spec secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: HOUR },
    }),
  );
  app.get('/count', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    res.json({ views: req.session.views, user: req.session.user ?? null });
  });
  app.post('/login', (req, res, next) => {
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.user = VALUE;
      req.session.save((saveError) => (saveError ? next(saveError) : res.json({ ok: true })));
    });
  });
  app.post('/logout', (req, res, next) => {
    req.session.destroy((error) => {
      if (error) return next(error);
      res.clearCookie(COOKIE);
      res.json({ ok: true });
    });
  });
  const server = await listen(app);
  t.after(() => server.close());
  return server.url;
}

async function json(browser: HttpClient, method: 'GET' | 'POST', path: string): Promise<Document> {
  const response = await browser.request(method, path);
  assert.equal(response.status, 200, response.body);
  return JSON.parse(response.body) as Document;
}

/** Login, count, regenerate on a second login, logout: checking the stored ids at each step. */
async function loginRegenerateLogout(
  t: TestContext,
  options: MongoDBStoreOptions,
  transform: TransformId,
  whileLoggedIn: (collection: string) => Promise<void> = async () => {},
): Promise<void> {
  const collection = nextCollection();
  const { store } = storeOn(t, collection, options);
  const url = await appOn(t, store);
  const browser = new HttpClient(url);
  const raw = database.db.collection<Document>(collection);
  // The ids of stored sessions; `everyId` includes the records of ended ids (logins regenerate).
  const storedIds = async () =>
    (await raw.find({ session: { $ne: null } }).toArray()).map((document) => document._id);
  const everyId = async () => (await raw.find({}).toArray()).map((document) => document._id);

  await json(browser, 'POST', '/login');
  const first = sessionIdOf(browser.cookie(COOKIE));
  assert.deepEqual(await storedIds(), [transform(first)]);
  assert.deepEqual(await json(browser, 'GET', '/count'), { views: 1, user: VALUE });
  assert.deepEqual(await json(browser, 'GET', '/count'), { views: 2, user: VALUE });

  // Logging in again regenerates: the old session is destroyed, a new one stored.
  await json(browser, 'POST', '/login');
  const second = sessionIdOf(browser.cookie(COOKIE));
  assert.notEqual(second, first);
  assert.deepEqual(await storedIds(), [transform(second)]);
  assert.deepEqual(await json(browser, 'GET', '/count'), { views: 1, user: VALUE });
  for (const id of await everyId()) {
    assert.notEqual(id, first, 'no stored _id is a cookie session id');
    assert.notEqual(id, second, 'no stored _id is a cookie session id');
  }
  await whileLoggedIn(collection);

  await json(browser, 'POST', '/logout');
  assert.deepEqual(await storedIds(), []);
  assert.deepEqual(await json(browser, 'GET', '/count'), { views: 1, user: null });
}

describe('hashSessionId', () => {
  const hash = hashSessionId(randomBytes(32));

  test('login, regenerate and logout work over HTTP, and no stored _id is a cookie session id', async (t) => {
    await loginRegenerateLogout(t, { transformId: hash }, hash);
  });

  test('get, set, touch and destroy (one id and a list) find sessions by their hash', async (t) => {
    const collection = nextCollection();
    const { store } = storeOn(t, collection, { transformId: hash, touchAfterMs: 0 });
    await store.set('one', data());
    await store.set('two', data());
    await store.set('three', data());
    assert.equal((await store.get('one'))?.user, 'ada');
    const later = new Date(Date.now() + 2 * HOUR);
    await store.touch('one', { ...data(), cookie: { ...data().cookie, expires: later } });
    const raw = database.db.collection<Document>(collection);
    assert.deepEqual((await raw.findOne({ _id: hash('one') as never }))?.expires, later);
    await store.destroy('one');
    assert.equal(await store.get('one'), null);
    await store.destroy(['two', 'three']);
    assert.equal(await store.length(), 0);
  });

  test('ids(), all() and the iterator give the stored keys, not the session ids', async (t) => {
    const collection = nextCollection();
    const { store } = storeOn(t, collection, { transformId: hash });
    await store.set('one', data());
    assert.deepEqual(await store.ids(), [hash('one')]);
    assert.deepEqual(
      (await store.all()).map((document) => document._id),
      [hash('one')],
    );
    const iterated: string[] = [];
    for await (const { id } of store.repository) iterated.push(id);
    assert.deepEqual(iterated, [hash('one')]);
  });

  test('a session stored under its raw id before transformId was on is not found', async (t) => {
    const collection = nextCollection();
    await storeOn(t, collection).store.set('before', data());
    const { store } = storeOn(t, collection, { transformId: hash });
    assert.equal(await store.get('before'), null);
  });
});

describe('encryption', () => {
  test('no stored document holds a session key or value in clear, and every session reads back exactly', async (t) => {
    const collection = nextCollection();
    const { store } = storeOn(t, collection, { encryption: { keys: [keyOf('k1')] } });
    for (const sid of ['a', 'b', 'c']) await store.set(sid, data());
    for (const bytes of await rawDocuments(collection)) {
      for (const marker of [KEY, VALUE, 'ada']) {
        assert.equal(bytes.includes(marker), false, `${marker} is stored in clear`);
      }
    }
    const back = (await store.get('b')) as unknown as Record<string, Document>;
    assert.deepStrictEqual(back[KEY], {
      value: VALUE,
      at: new Date(0),
      bytes: Buffer.from([1, 2, 3]),
    });
  });

  test('touch writes the whole session encrypted, and it still reads whole', async (t) => {
    const collection = nextCollection();
    const { store } = storeOn(t, collection, {
      encryption: { keys: [keyOf('k1')] },
      touchAfterMs: 0,
    });
    await store.set('a', data());
    const later = new Date(Date.now() + 2 * HOUR);
    await store.touch('a', { ...data(), cookie: { ...data().cookie, expires: later } });
    const stored = await database.db
      .collection<Document>(collection)
      .findOne({ _id: 'a' as never });
    assert.deepEqual(stored?.expires, later);
    assert.ok(isSealed(stored?.session), 'still encrypted');
    const back = (await store.get('a')) as unknown as Record<string, Document>;
    assert.deepEqual(new Date(back.cookie?.expires as Date), later);
    assert.equal(back[KEY]?.value, VALUE);
  });

  test('after rotation a session written with the old key is read, and the next write uses the new key', async (t) => {
    const collection = nextCollection();
    const oldKey = keyOf('2025');
    const newKey = keyOf('2026');
    await storeOn(t, collection, { encryption: { keys: [oldKey] } }).store.set('a', data());
    const raw = database.db.collection<Document>(collection);
    assert.equal(keyIdOf((await raw.findOne({ _id: 'a' as never }))?.session), '2025');

    const { store, errors } = storeOn(t, collection, { encryption: { keys: [newKey, oldKey] } });
    assert.equal((await store.get('a'))?.user, 'ada');
    await store.set('a', { ...data(), views: 2 });
    assert.equal(keyIdOf((await raw.findOne({ _id: 'a' as never }))?.session), '2026');
    // Every session rewritten: the old key can go.
    const { store: newOnly } = storeOn(t, collection, { encryption: { keys: [newKey] } });
    assert.equal((await newOnly.get('a'))?.views, 2);
    assert.deepEqual(errors, []);
  });

  test('a tampered document reads as no session, with an error event', async (t) => {
    const collection = nextCollection();
    const keys = [keyOf('k1')];
    const { store, errors } = storeOn(t, collection, { encryption: { keys } });
    await store.set('a', data());
    const raw = database.db.collection<Document>(collection);
    const sealed = (await raw.findOne({ _id: 'a' as never }))?.session as BSON.Binary;
    const bytes = Buffer.from(sealed.buffer.subarray(0, sealed.position));
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 1;
    await raw.updateOne({ _id: 'a' as never }, { $set: { session: new BSON.Binary(bytes, 0x80) } });
    assert.equal(await store.get('a'), null);
    await until(() => errors.length === 1, 5_000, 'an error event');
    assert.ok(errors[0] instanceof SessionDecryptionError, 'a SessionDecryptionError');
    assert.equal((errors[0] as SessionDecryptionError).code, 'SESSION_UNDECRYPTABLE');
    // The visitor starts afresh: the next write replaces it.
    await store.set('a', data());
    assert.equal((await store.get('a'))?.user, 'ada');
  });

  test('a document under a key that is not listed, or another key of the same id, reads as no session with an error event', async (t) => {
    const collection = nextCollection();
    const key = keyOf('k1');
    await storeOn(t, collection, { encryption: { keys: [key] } }).store.set('a', data());
    for (const keys of [[keyOf('k2')], [keyOf('k1')]]) {
      const { store, errors } = storeOn(t, collection, { encryption: { keys } });
      assert.equal(await store.get('a'), null);
      await until(() => errors.length === 1, 5_000, 'an error event');
      assert.ok(errors[0] instanceof SessionDecryptionError, 'a SessionDecryptionError');
    }
  });

  test('sessions stored in clear before are read, and the next write encrypts them', async (t) => {
    const collection = nextCollection();
    await storeOn(t, collection).store.set('document', data());
    const raw = database.db.collection<Document>(collection);
    // connect-mongo's default form: a JSON string.
    await raw.insertOne({
      _id: 'json' as never,
      session: JSON.stringify({ cookie: { expires: new Date(Date.now() + HOUR) }, user: 'bob' }),
      expires: new Date(Date.now() + HOUR),
    });
    const { store, errors } = storeOn(t, collection, { encryption: { keys: [keyOf('k1')] } });
    assert.equal((await store.get('document'))?.user, 'ada');
    assert.equal((await store.get('json'))?.user, 'bob');
    await store.set('document', data());
    assert.ok(
      isSealed((await raw.findOne({ _id: 'document' as never }))?.session),
      'encrypted now',
    );
    assert.equal((await store.get('document'))?.user, 'ada');
    assert.deepEqual(errors, []);
  });

  test('with hashSessionId as well, login, regenerate and logout work over HTTP and nothing is in clear', async (t) => {
    const hash = hashSessionId(randomBytes(32));
    await loginRegenerateLogout(
      t,
      { transformId: hash, encryption: { keys: [keyOf('k1')] } },
      hash,
      async (collection) => {
        const documents = await rawDocuments(collection);
        // The session, and the records of the two ids its logins ended (regenerate).
        assert.equal(documents.length, 3);
        for (const bytes of documents) {
          assert.equal(bytes.includes(VALUE), false, 'the user is stored in clear');
        }
      },
    );
  });
});
