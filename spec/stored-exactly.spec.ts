/**
 * What is stored is what was set: every write lands whole, even where FerretDB 1.x would take the
 * new session for the stored one because their values match one for one (it ignores keys in that
 * test), as a cart going from `{ sku1: 1 }` to `{ sku2: 1 }` under an unchanged cookie does.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import express from 'express';
import session from 'express-session';
import fc from 'fast-check';
import type { Document } from 'mongodb';
import { type AnySession, MongoDBStore, SessionRepository } from '../lib/index.js';
import { commandsDuring, useSpecDatabase } from './support/database.js';
import { HttpClient, listen } from './support/http.js';

const HOUR = 60 * 60 * 1000;
const database = useSpecDatabase(import.meta.url);
let collectionCount = 0;

function nextCollection(): string {
  collectionCount += 1;
  return `exactly_${collectionCount}`;
}

/** A repository on a collection of its own (or `collection`), closed when `t` ends. */
function repositoryFor(t: TestContext, collection = nextCollection()) {
  const repository = new SessionRepository({
    client: database.client,
    databaseName: database.databaseName,
    collection,
    autoRemove: 'disabled',
    manageIndexes: false,
    touchAfterMs: 0,
  });
  t.after(() => repository.close());
  return { repository, collection, raw: database.db.collection<Document>(collection) };
}

test('a cart whose item changes under the same cookie is stored as given', async (t) => {
  const { repository } = repositoryFor(t);
  const cookie = { expires: new Date(Date.now() + HOUR), path: '/', httpOnly: true };
  assert.equal(await repository.set('s', { cookie, cart: { sku1: 1 } }), 'created');
  assert.equal(await repository.set('s', { cookie, cart: { sku2: 1 } }), 'updated');
  assert.deepEqual((await repository.get('s'))?.cart, { sku2: 1 });
});

test('a top-level key renamed with the same value, and back, is stored each time', async (t) => {
  const { repository } = repositoryFor(t);
  const cookie = { expires: new Date(Date.now() + HOUR) };
  for (const data of [{ a: 1 }, { b: 1 }, { a: 1 }, { a: { x: 'v' } }, { a: { y: 'v' } }]) {
    await repository.set('s', { cookie, ...data });
    const read = await repository.get('s');
    assert.deepEqual({ ...read, cookie: undefined }, { ...data, cookie: undefined });
  }
});

test('a write from a repository that never read the session lands too', async (t) => {
  const { repository, collection } = repositoryFor(t);
  const cookie = { expires: new Date(Date.now() + HOUR) };
  await repository.set('s', { cookie, cart: { sku1: 1 } });
  // Another process: it knows nothing of what is stored.
  const { repository: other } = repositoryFor(t, collection);
  assert.equal(await other.set('s', { cookie, cart: { sku2: 1 } }), 'updated');
  assert.deepEqual((await repository.get('s'))?.cart, { sku2: 1 });
});

test('a touch whose cookie has other keys with the same values stores that cookie', async (t) => {
  const { repository, raw } = repositoryFor(t);
  const expires = new Date(Date.now() + HOUR);
  const before = { expires, path: '/', secure: true };
  await repository.set('s', { cookie: before });
  await repository.get('s');
  // The same values under other keys: only the keys tell the two cookies apart.
  const after = { expires, path: '/', httpOnly: true };
  assert.equal(await repository.touch('s', { cookie: after }), true);
  const stored = await raw.findOne({ _id: 's' as never });
  assert.deepEqual(Object.keys(stored?.session.cookie).sort(), ['expires', 'httpOnly', 'path']);
});

test('a write whose keys stay the same is one statement; one whose keys change, one command of two', async (t) => {
  const { repository } = repositoryFor(t);
  const cookie = { expires: new Date(Date.now() + HOUR) };
  await repository.set('s', { cookie, cart: { sku1: 1 } });
  const same = await commandsDuring(database.client, () =>
    repository.set('s', { cookie, cart: { sku1: 2 } }),
  );
  assert.deepEqual(
    same.map((event) => [event.commandName, event.command.updates.length]),
    [['update', 1]],
  );
  const renamed = await commandsDuring(database.client, () =>
    repository.set('s', { cookie, cart: { sku2: 2 } }),
  );
  assert.deepEqual(
    renamed.map((event) => [event.commandName, event.command.updates.length]),
    [['update', 2]],
  );
  assert.deepEqual((await repository.get('s'))?.cart, { sku2: 2 });
});

test('a read between the two statements of a write finds the session without the mark', async (t) => {
  const { repository, raw } = repositoryFor(t);
  const cookie = { expires: new Date(Date.now() + HOUR), path: '/' };
  await repository.set('s', { cookie, cart: { sku1: 1 } });
  // As the first statement of a write leaves it, until the second lands.
  await raw.updateOne(
    { _id: 's' as never },
    { $set: { 'session.%': true, 'session.cookie.%': true } },
  );
  const read = await repository.get('s');
  assert.deepEqual(Object.keys(read ?? {}).sort(), ['cart', 'cookie']);
  assert.deepEqual(Object.keys(read?.cookie ?? {}).sort(), ['expires', 'path']);
  await repository.set('s', { cookie, cart: { sku2: 1 } });
  const stored = await raw.findOne({ _id: 's' as never });
  assert.deepEqual(Object.keys(stored?.session).sort(), ['cart', 'cookie'], 'the mark goes');
});

test('over HTTP, a cart changing items keeps the last one (express-session keeps the cookie)', async (t) => {
  const store = new MongoDBStore({
    client: database.client,
    databaseName: database.databaseName,
    collection: nextCollection(),
  });
  t.after(() => store.close());
  const app = express();
  app.use(
    session({
      store,
      secret: 'spec secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: HOUR },
    }),
  );
  app.post('/cart/:sku', (req, res) => {
    (req.session as unknown as { cart: Record<string, number> }).cart = { [req.params.sku]: 1 };
    res.json({ ok: true });
  });
  app.get('/cart', (req, res) => {
    res.json((req.session as unknown as { cart?: unknown }).cart ?? null);
  });
  const server = await listen(app);
  t.after(() => server.close());
  const browser = new HttpClient(server.url);
  for (const sku of ['sku1', 'sku2', 'sku3', 'sku1']) {
    assert.equal((await browser.post(`/cart/${sku}`)).status, 200);
    assert.deepEqual(JSON.parse((await browser.get('/cart')).body), { [sku]: 1 });
  }
});

test('property: after any sequence of writes, a read gives the last session written', async (t) => {
  const { repository } = repositoryFor(t);
  const cookie = { expires: new Date(Date.now() + HOUR) };
  // Few keys and values, so that sessions often match value for value under other keys.
  const key = fc.constantFrom('a', 'b', 'c', 'sku1', 'sku2');
  const leaf = fc.constantFrom<unknown>(1, 2, true, 'x', null);
  const data = fc.letrec<{ record: Record<string, unknown> }>((tie) => ({
    record: fc.dictionary(key, fc.oneof({ depthSize: 'small' }, leaf, tie('record')), {
      maxKeys: 3,
      noNullPrototype: true,
    }),
  })).record;
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(data, { minLength: 1, maxLength: 6 }), async (writes) => {
      run += 1;
      const sid = `p${run}`;
      for (const written of writes) {
        const stored: AnySession = { cookie, ...written };
        await repository.set(sid, stored);
        const read = await repository.get(sid);
        assert.deepEqual({ ...read, cookie: null }, { ...written, cookie: null });
      }
    }),
    { numRuns: 40, seed: 20261204 },
  );
  t.diagnostic(`${run} sequences written and read back`);
});
