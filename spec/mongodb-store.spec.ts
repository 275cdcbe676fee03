import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { inspect } from 'node:util';
import type { SessionData } from 'express-session';
import { MongoClient } from 'mongodb';
import {
  type Callback,
  ConnectionError,
  InvalidSessionIdError,
  MongoDBStore,
  type MongoDBStoreOptions,
  StoreClosedError,
  UnreadableSessionError,
} from '../lib/index.js';
import { useSpecDatabase } from './support/database.js';
import { closedPort, startTcpProxy } from './support/tcp-proxy.js';

declare module 'express-session' {
  interface SessionData {
    views?: number;
  }
}

const HOUR_MS = 60 * 60 * 1000;

const database = useSpecDatabase(import.meta.url);

let storeCount = 0;

/** A store on a collection of its own, not yet waited for, closed when the test ends. */
function newStore(
  t: TestContext,
  options: MongoDBStoreOptions = {},
  callback?: (...args: unknown[]) => void,
): MongoDBStore {
  storeCount += 1;
  const resolved: MongoDBStoreOptions = {
    ...(options.client === undefined ? { uri: database.uri } : {}),
    databaseName: database.databaseName,
    collection: `bridge_${storeCount}`,
    ...options,
  };
  const store =
    callback === undefined ? new MongoDBStore(resolved) : new MongoDBStore(resolved, callback);
  t.after(() => store.close());
  return store;
}

/** A connected store on a collection of its own, closed when the test ends. */
async function openStore(t: TestContext, options: MongoDBStoreOptions = {}): Promise<MongoDBStore> {
  const store = newStore(t, options);
  // Connected and indexed, so that what a spec sees is its own operations' doing.
  await store.repository.whenIndexed();
  return store;
}

/** A store whose server refuses every connection, closed when the test ends. */
async function openUnreachableStore(
  t: TestContext,
  callback?: (error?: Error) => void,
): Promise<MongoDBStore> {
  const port = await closedPort();
  const options: MongoDBStoreOptions = {
    uri: `mongodb://127.0.0.1:${port}/`,
    databaseName: database.databaseName,
    connectionOptions: { serverSelectionTimeoutMS: 300 },
  };
  const store =
    callback === undefined ? new MongoDBStore(options) : new MongoDBStore(options, callback);
  t.after(() => store.close());
  return store;
}

function sessionWith(views: number): SessionData {
  return {
    cookie: {
      originalMaxAge: HOUR_MS,
      expires: new Date(Date.now() + HOUR_MS),
      httpOnly: true,
      path: '/',
    },
    views,
  };
}

interface Call<T> {
  readonly error: Error | null;
  readonly value: T | undefined;
  /** How many arguments the callback received. */
  readonly arity: number;
}

/** A callback that records its calls; `called` settles with the first. */
function recorder<T>(): { callback: Callback<T>; calls: Call<T>[]; called: Promise<Call<T>> } {
  const calls: Call<T>[] = [];
  let first: (call: Call<T>) => void = () => {};
  const called = new Promise<Call<T>>((resolve) => {
    first = resolve;
  });
  const callback: Callback<T> = (...args: [Error | null, T?]) => {
    const call = { error: args[0], value: args[1], arity: args.length };
    calls.push(call);
    first(call);
  };
  return { callback, calls, called };
}

/** Collects uncaught exceptions until `restore()`; node:test would otherwise fail the test on them. */
function captureUncaughtExceptions(): {
  errors: unknown[];
  first: Promise<unknown>;
  restore(): void;
} {
  const errors: unknown[] = [];
  let resolveFirst: (error: unknown) => void = () => {};
  const first = new Promise<unknown>((resolve) => {
    resolveFirst = resolve;
  });
  process.setUncaughtExceptionCaptureCallback((error) => {
    errors.push(error);
    resolveFirst(error);
  });
  return { errors, first, restore: () => process.setUncaughtExceptionCaptureCallback(null) };
}

interface MethodCase {
  readonly method: string;
  /** What the method yields, for the test's name. */
  readonly yields: string;
  call(store: MongoDBStore, sid: string, callback: Callback<unknown>): unknown;
  callWithoutCallback(store: MongoDBStore, sid: string): unknown;
  check(value: unknown, sid: string): void;
}

const nothing = (value: unknown) => assert.equal(value, undefined);

const methodCases: readonly MethodCase[] = [
  {
    method: 'get',
    yields: 'the session',
    call: (store, sid, callback) => store.get(sid, callback),
    callWithoutCallback: (store, sid) => store.get(sid),
    check: (value) => assert.deepEqual((value as SessionData).views, 1),
  },
  {
    method: 'set',
    yields: 'undefined',
    call: (store, sid, callback) => store.set(sid, sessionWith(2), callback),
    callWithoutCallback: (store, sid) => store.set(sid, sessionWith(2)),
    check: nothing,
  },
  {
    method: 'touch',
    yields: 'undefined',
    call: (store, sid, callback) => store.touch(sid, sessionWith(1), callback),
    callWithoutCallback: (store, sid) => store.touch(sid, sessionWith(1)),
    check: nothing,
  },
  {
    method: 'destroy',
    yields: 'undefined',
    call: (store, sid, callback) => store.destroy(sid, callback),
    callWithoutCallback: (store, sid) => store.destroy(sid),
    check: nothing,
  },
  {
    method: 'clear',
    yields: 'undefined',
    call: (store, _sid, callback) => store.clear(callback),
    callWithoutCallback: (store) => store.clear(),
    check: nothing,
  },
  {
    method: 'length',
    yields: 'the number of sessions',
    call: (store, _sid, callback) => store.length(callback),
    callWithoutCallback: (store) => store.length(),
    check: (value) => assert.equal(value, 1),
  },
  {
    method: 'ids',
    yields: 'the session ids',
    call: (store, _sid, callback) => store.ids(callback),
    callWithoutCallback: (store) => store.ids(),
    check: (value, sid) => assert.deepEqual(value, [sid]),
  },
  {
    method: 'all',
    yields: "the sessions as version 5's documents",
    call: (store, _sid, callback) => store.all(callback),
    callWithoutCallback: (store) => store.all(),
    check: (value, sid) => {
      assert.ok(Array.isArray(value));
      assert.equal(value.length, 1);
      assert.equal(value[0]._id, sid);
      assert.equal(value[0].session.views, 1);
      assert.ok(value[0].expires instanceof Date);
    },
  },
  {
    method: 'close',
    yields: 'undefined',
    call: (store, _sid, callback) => store.close(callback),
    callWithoutCallback: (store) => store.close(),
    check: nothing,
  },
];

for (const { method, yields, call, check } of methodCases) {
  test(`${method} with a callback returns undefined and calls back once, in a later tick, with null and ${yields}`, async (t) => {
    const store = await openStore(t);
    await store.set('sid-1', sessionWith(1));
    const { callback, calls, called } = recorder<unknown>();

    assert.equal(call(store, 'sid-1', callback), undefined);
    assert.equal(calls.length, 0, 'the callback must not run in the calling tick');

    const { error, value, arity } = await called;
    assert.equal(error, null);
    assert.equal(arity, 2);
    check(value, 'sid-1');
    // A second call would come from a later promise reaction or tick, all of which run before this.
    await setImmediate();
    assert.equal(calls.length, 1);
  });
}

for (const { method, yields, callWithoutCallback, check } of methodCases) {
  test(`${method} without a callback returns a promise of ${yields}`, async (t) => {
    const store = await openStore(t);
    await store.set('sid-1', sessionWith(1));

    const returned = callWithoutCallback(store, 'sid-1');

    assert.ok(returned instanceof Promise);
    check(await returned, 'sid-1');
  });
}

test('get calls back with null and null for a session that does not exist', async (t) => {
  const store = await openStore(t);
  const { callback, called } = recorder<SessionData | null>();

  store.get('missing', callback);

  const { error, value } = await called;
  assert.equal(error, null);
  assert.equal(value, null);
});

test('a callback that throws on success is called once and its exception is not swallowed', async (t) => {
  const store = await openStore(t);
  const uncaught = captureUncaughtExceptions();
  t.after(uncaught.restore);
  const thrown = new Error('thrown by the callback');
  let calls = 0;

  store.get('missing', () => {
    calls += 1;
    throw thrown;
  });

  assert.equal(await uncaught.first, thrown);
  await store.length();
  await setImmediate();
  assert.equal(calls, 1);
  assert.deepEqual(uncaught.errors, [thrown]);
});

test('a callback that throws on an error is called once and its exception is not swallowed', async (t) => {
  const store = await openStore(t);
  const uncaught = captureUncaughtExceptions();
  t.after(uncaught.restore);
  const thrown = new Error('thrown by the callback');
  const received: unknown[] = [];

  store.get('', (error) => {
    received.push(error);
    throw thrown;
  });

  assert.equal(await uncaught.first, thrown);
  await store.length();
  await setImmediate();
  assert.equal(received.length, 1);
  assert.ok(received[0] instanceof InvalidSessionIdError);
  assert.deepEqual(uncaught.errors, [thrown]);
});

test('an invalid session id reaches the callback as an InvalidSessionIdError and the store keeps working', async (t) => {
  const store = await openStore(t);
  const { callback, called } = recorder<SessionData | null>();

  store.get('', callback);

  const { error, value } = await called;
  assert.ok(error instanceof InvalidSessionIdError);
  assert.ok(error instanceof TypeError);
  assert.equal(error.code, 'INVALID_SESSION_ID');
  assert.equal(value, undefined);
  await store.set('sid-after', sessionWith(3));
  assert.equal((await store.get('sid-after'))?.views, 3);
});

test('an invalid session id rejects the promise of a method called without a callback', async (t) => {
  const store = await openStore(t);

  await assert.rejects(store.destroy(42 as unknown as string), InvalidSessionIdError);
});

test('an invalid session id sends no command to the server', async (t) => {
  const store = await openStore(t, { connectionOptions: { monitorCommands: true } });
  const commands: string[] = [];
  store.client?.on('commandStarted', (event) => commands.push(event.commandName));

  await assert.rejects(store.get(undefined as unknown as string), InvalidSessionIdError);
  await assert.rejects(store.set('', sessionWith(1)), InvalidSessionIdError);

  assert.deepEqual(commands, []);
});

test('a connection failure reaches the callback of an operation as a ConnectionError', async (t) => {
  const store = await openUnreachableStore(t, () => {});
  const { callback, called } = recorder<SessionData | null>();

  store.get('sid-1', callback);

  const { error } = await called;
  assert.ok(error instanceof ConnectionError);
  assert.equal(error.code, 'CONNECTION_FAILED');
});

test('a store emits connected and then connect once it is ready', async (t) => {
  const store = newStore(t);
  const events: string[] = [];
  store.on('connected', () => events.push('connected'));
  store.on('connect', () => events.push('connect'));

  await once(store, 'connect');

  assert.deepEqual(events, ['connected', 'connect']);
});

test('the constructor callback is called once, with no arguments, when the store is ready', async (t) => {
  const calls: unknown[][] = [];
  let ready: () => void = () => {};
  const called = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const store = newStore(t, {}, (...args: unknown[]) => {
    calls.push(args);
    ready();
  });

  await called;
  assert.notEqual(store.collection, undefined);
  await store.length();
  await setImmediate();
  assert.deepEqual(calls, [[]]);
});

test('a store that cannot connect emits error with a ConnectionError', async (t) => {
  const store = await openUnreachableStore(t);

  const [error] = (await once(store, 'error')) as [unknown];

  assert.ok(error instanceof ConnectionError);
  assert.equal(error.code, 'CONNECTION_FAILED');
  assert.ok(error.cause instanceof Error);
});

test('a store that cannot connect calls the constructor callback once with the ConnectionError', async (t) => {
  const errors: unknown[] = [];
  let failed: () => void = () => {};
  const called = new Promise<void>((resolve) => {
    failed = resolve;
  });

  const store = await openUnreachableStore(t, (error) => {
    errors.push(error);
    failed();
  });

  await called;
  await setImmediate();
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof ConnectionError);
  assert.equal(errors[0].code, 'CONNECTION_FAILED');
  assert.equal(store.listenerCount('error'), 0);
});

test('a store that cannot connect, with neither error listener nor callback, emits a process warning instead of crashing', async (t) => {
  const warned = new Promise<Error & { code?: unknown }>((resolve) => {
    const onWarning = (warning: Error & { code?: unknown }) => {
      if (warning.code !== 'SESSION_STORE_ERROR') return;
      process.off('warning', onWarning);
      resolve(warning);
    };
    process.on('warning', onWarning);
  });

  const store = await openUnreachableStore(t);

  const warning = await warned;
  assert.equal(store.listenerCount('error'), 0);
  assert.match(warning.message, /Could not connect to MongoDB/);
});

test('a store whose first connection failed emits connected when an operation finds the database back', async (t) => {
  const port = await closedPort();
  const errors: Error[] = [];
  let connected = 0;
  const store = new MongoDBStore({
    uri: `mongodb://127.0.0.1:${port}/`,
    databaseName: database.databaseName,
    collection: 'recovers',
    connectionOptions: { serverSelectionTimeoutMS: 300 },
  });
  store.on('error', (error) => errors.push(error));
  store.on('connected', () => {
    connected += 1;
  });
  t.after(() => store.close());
  await once(store, 'error');
  assert.equal(connected, 0);

  const proxy = await startTcpProxy(database.uri, port);
  t.after(() => proxy.close());
  assert.equal(await store.get('sid-1'), null);
  await setImmediate();
  assert.equal(connected, 1);
  assert.equal(errors.length, 1);
});

test('a store closed at once never emits connected, though its connection attempt succeeds', async (t) => {
  let connected = 0;
  const store = newStore(t, { collection: 'closed_at_once' });
  store.on('connected', () => {
    connected += 1;
  });
  store.on('connect', () => {
    connected += 1;
  });
  await store.close();
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(connected, 0);
});

test('client, db and collection are set at construction, and collection is the very object the operations use', async (t) => {
  const store = newStore(t, { collection: 'getters' });

  assert.ok(store.client instanceof MongoClient);
  assert.equal(store.db?.databaseName, database.databaseName);
  const collectionBeforeConnecting = store.collection;
  assert.equal(collectionBeforeConnecting?.collectionName, 'getters');
  assert.equal(collectionBeforeConnecting?.dbName, database.databaseName);
  await once(store, 'connected');
  assert.equal(store.collection, collectionBeforeConnecting);
  assert.equal(store.repository.collection, collectionBeforeConnecting);
  await store.set('sid-1', sessionWith(4));
  const stored = await collectionBeforeConnecting?.findOne({ _id: 'sid-1' } as never);
  assert.equal((stored?.session as SessionData | undefined)?.views, 4);
});

test('client is the client passed in through the client option', async (t) => {
  const store = await openStore(t, { client: database.client });

  assert.equal(store.client, database.client);
});

test("options show version 5's names with defaults applied, frozen; the resolved form is the repository's", async (t) => {
  const store = await openStore(t, { expires: 5_000 });

  assert.equal(store.options.expires, 5_000);
  assert.equal(store.options.idField, '_id');
  assert.equal(store.options.expiresKey, 'expires');
  assert.equal(store.options.expiresAfterSeconds, 0);
  assert.equal(store.options.uri, database.uri);
  assert.ok(Object.isFrozen(store.options));
  assert.equal(store.repository.options.expiresMs, 5_000);
});

test('close can be called twice and both calls resolve', async (t) => {
  const store = await openStore(t);

  await Promise.all([store.close(), store.close()]);
  await store.close();
});

test('an operation after close rejects with StoreClosedError', async (t) => {
  const store = await openStore(t);
  await store.close();

  await assert.rejects(store.get('sid-1'), StoreClosedError);
});

test('close does not close a client passed in through the client option', async (t) => {
  const client = await new MongoClient(database.uri).connect();
  t.after(() => client.close());
  let topologyClosed = 0;
  client.on('topologyClosed', () => {
    topologyClosed += 1;
  });
  const store = await openStore(t, { client });

  await store.close();
  await store.close();

  assert.equal(topologyClosed, 0);
  const reply = await client.db(database.databaseName).command({ ping: 1 });
  assert.equal(reply.ok, 1);
});

test('touch calls back without an error for a session that does not exist, and does not create it', async (t) => {
  const store = await openStore(t);
  const { callback, called } = recorder<void>();

  store.touch('missing', sessionWith(1), callback);

  const { error } = await called;
  assert.equal(error, null);
  assert.equal(await store.get('missing'), null);
});

test('a stored session that cannot be read is no session for get, and an error event for the store', async (t) => {
  const store = await openStore(t, { collection: 'unreadable' });
  const errors: Error[] = [];
  store.on('error', (error) => errors.push(error));
  await store.collection?.insertOne({
    _id: 'sid-1' as never,
    session: 'encrypted by another store: secret-value',
    expires: new Date(Date.now() + HOUR_MS),
  });

  assert.equal(await store.get('sid-1'), null);
  await setImmediate();
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof UnreadableSessionError);
  assert.equal((errors[0] as UnreadableSessionError).code, 'SESSION_UNREADABLE');
  assert.doesNotMatch(inspect(errors[0]), /secret-value/);
});
