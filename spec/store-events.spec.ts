/**
 * The store's per-operation events, as an application listening on them sees them: after each
 * operation succeeded, with connect-mongo's names and arguments, and never after a failure.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import express from 'express';
import session, { type SessionData } from 'express-session';
import { MongoDBStore, type MongoDBStoreOptions } from '../lib/index.js';
import { useSpecDatabase } from './support/database.js';
import { HttpClient, listen, sessionIdOf } from './support/http.js';
import { closedPort } from './support/tcp-proxy.js';

const HOUR_MS = 60 * 60 * 1000;
const EVENTS = ['get', 'create', 'update', 'set', 'touch', 'destroy'] as const;

const database = useSpecDatabase(import.meta.url);

let storeCount = 0;

/** A connected store on a collection of its own, closed when the test ends. */
async function openStore(t: TestContext, options: MongoDBStoreOptions = {}): Promise<MongoDBStore> {
  storeCount += 1;
  const store = new MongoDBStore({
    uri: database.uri,
    databaseName: database.databaseName,
    collection: `events_${storeCount}`,
    ...options,
  });
  t.after(() => store.close());
  await store.repository.whenIndexed();
  return store;
}

/** Every per-operation event the store emits, in order, as `name:arguments`. */
function recordEvents(store: MongoDBStore): string[] {
  const seen: string[] = [];
  for (const name of EVENTS) {
    store.on(name, (...args: unknown[]) => {
      const [sid, session] = args as [string, SessionData | undefined];
      seen.push(session === undefined ? `${name}:${sid}` : `${name}:${sid}:session`);
    });
  }
  return seen;
}

function stored(expiresInMs = HOUR_MS, views = 1): SessionData {
  return {
    cookie: { originalMaxAge: expiresInMs, expires: new Date(Date.now() + expiresInMs) },
    views,
  } as unknown as SessionData;
}

test('set emits create then set for a new session, update then set when it replaces one', async (t) => {
  const store = await openStore(t);
  const seen = recordEvents(store);
  await store.set('sid-a', stored());
  await store.set('sid-a', stored(HOUR_MS, 2));
  assert.deepEqual(seen, ['create:sid-a', 'set:sid-a', 'update:sid-a', 'set:sid-a']);
});

test('get emits get with the id, whether or not a session was found', async (t) => {
  const store = await openStore(t);
  await store.set('sid-a', stored());
  const seen = recordEvents(store);
  assert.notEqual(await store.get('sid-a'), null, 'the stored session is found');
  assert.equal(await store.get('sid-missing'), null, 'an unknown id finds nothing');
  assert.deepEqual(seen, ['get:sid-a', 'get:sid-missing']);
});

test('touch emits touch with the id and the session when it moved the expiry, nothing when it sent nothing', async (t) => {
  const store = await openStore(t, { touchAfterMs: 0 });
  await store.set('sid-a', stored());
  const seen = recordEvents(store);
  await store.touch('sid-a', stored(2 * HOUR_MS));
  await store.touch('sid-missing', stored(2 * HOUR_MS));
  assert.deepEqual(seen, ['touch:sid-a:session'], 'no event for a session that was not there');

  const lazy = await openStore(t, { touchAfterMs: HOUR_MS });
  await lazy.set('sid-b', stored());
  const lazySeen = recordEvents(lazy);
  // Within touchAfterMs of the write the store sends nothing, so nothing was touched.
  await lazy.touch('sid-b', stored());
  assert.deepEqual(lazySeen, []);
});

test('destroy emits destroy once per id, also for several ids at once', async (t) => {
  const store = await openStore(t);
  await store.set('sid-a', stored());
  await store.set('sid-b', stored());
  const seen = recordEvents(store);
  await store.destroy('sid-a');
  await store.destroy(['sid-b', 'sid-c']);
  assert.deepEqual(seen, ['destroy:sid-a', 'destroy:sid-b', 'destroy:sid-c']);
  assert.equal(await store.length(), 0);
});

test('set of a session whose cookie has already expired deletes it and emits destroy, not set', async (t) => {
  const store = await openStore(t);
  await store.set('sid-a', stored());
  const seen = recordEvents(store);
  await store.set('sid-a', stored(-1_000));
  assert.deepEqual(seen, ['destroy:sid-a']);
  assert.equal(await store.get('sid-a'), null);
});

test('the callback forms emit the same events, before the callback runs', async (t) => {
  const store = await openStore(t);
  const seen = recordEvents(store);
  const seenByCallback = await new Promise<string[]>((resolve, reject) => {
    store.set('sid-a', stored(), (error) => (error ? reject(error) : resolve([...seen])));
  });
  assert.deepEqual(seenByCallback, ['create:sid-a', 'set:sid-a']);
});

test('a failed operation emits nothing: a refused id, and a database that cannot be reached', async (t) => {
  const store = await openStore(t);
  const seen = recordEvents(store);
  await assert.rejects(store.set('', stored()), TypeError);
  await assert.rejects(store.destroy(''), TypeError);

  const unreachable = new MongoDBStore({
    uri: `mongodb://127.0.0.1:${await closedPort()}/`,
    connectionOptions: { serverSelectionTimeoutMS: 200 },
  });
  unreachable.on('error', () => undefined);
  t.after(() => unreachable.close());
  const unreachableSeen = recordEvents(unreachable);
  await assert.rejects(unreachable.set('sid-a', stored()), { name: 'ConnectionError' });
  await assert.rejects(unreachable.get('sid-a'), { name: 'ConnectionError' });
  await assert.rejects(unreachable.destroy('sid-a'), { name: 'ConnectionError' });
  assert.deepEqual(seen, []);
  assert.deepEqual(unreachableSeen, []);
});

test('an express-session app sees create on the first visit, update on the next, destroy at logout', async (t) => {
  const store = await openStore(t);
  const app = express();
  app.use(session({ store, secret: 'events', resave: false, saveUninitialized: false }));
  app.get('/', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    res.send(String(req.session.views));
  });
  app.get('/logout', (req, res) => {
    req.session.destroy(() => res.send('bye'));
  });
  const server = await listen(app);
  t.after(() => server.close());
  const seen = recordEvents(store);
  const browser = new HttpClient(server.url);
  assert.equal((await browser.get('/')).body, '1');
  const sid = sessionIdOf(browser.cookie('connect.sid'));
  assert.equal((await browser.get('/')).body, '2');
  assert.equal((await browser.get('/logout')).body, 'bye');
  assert.deepEqual(seen, [
    `create:${sid}`,
    `set:${sid}`,
    `get:${sid}`,
    `update:${sid}`,
    `set:${sid}`,
    `get:${sid}`,
    `destroy:${sid}`,
  ]);
});
