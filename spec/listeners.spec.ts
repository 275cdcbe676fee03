/**
 * Listeners cannot change outcomes: a listener of any of the store's events that throws, or
 * returns a promise that rejects, leaves the operation's result as it was (the promise resolves
 * with it, the callback is called once, without an error), stops no other listener, takes nothing
 * down (no uncaught exception, no unhandled rejection), and is reported as a process warning with
 * code `SESSION_STORE_LISTENER_ERROR` that names the event, the listener and the error's class,
 * never the error's message.
 */
import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import { inspect } from 'node:util';
import type { SessionData } from 'express-session';
import {
  ConnectionError,
  MongoDBStore,
  type MongoDBStoreEvents,
  type MongoDBStoreOptions,
} from '../lib/index.js';
import { useSpecDatabase } from './support/database.js';
import { until } from './support/faults.js';
import { closedPort } from './support/tcp-proxy.js';
import { useUnhandledRejectionRecorder } from './support/unhandled-rejections.js';

const database = useSpecDatabase(import.meta.url);
useUnhandledRejectionRecorder();

const CODE = 'SESSION_STORE_LISTENER_ERROR';
const HOUR_MS = 60 * 60 * 1000;
/** What the listeners' errors quote: a session's data, which no warning may print. */
const SECRET = 'SESSION-DATA-MARKER-3b9f';

// Every warning of the file, collected without printing the listener warnings.
const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
before(() => process.on('warning', onWarning));
after(() => process.off('warning', onWarning));

let count = 0;

/** A connected store on a collection of its own, closed when the test ends. */
async function openStore(t: TestContext, options: MongoDBStoreOptions = {}): Promise<MongoDBStore> {
  count += 1;
  const store = new MongoDBStore({
    uri: database.uri,
    databaseName: database.databaseName,
    collection: `listeners_${count}`,
    ...options,
  });
  t.after(() => store.close());
  await store.repository.whenIndexed();
  return store;
}

function stored(views: number, expiresInMs = HOUR_MS): SessionData {
  return {
    cookie: { originalMaxAge: expiresInMs, expires: new Date(Date.now() + expiresInMs) },
    views,
    secret: SECRET,
  } as unknown as SessionData;
}

interface Throwing {
  readonly listener: (...args: unknown[]) => unknown;
  /** Its function name, of its own, so that its warning (shown once per name) is its own. */
  readonly name: string;
}

/** A listener that throws (or rejects with) a TypeError quoting the session id and data. */
function failing(how: 'throws' | 'rejects'): Throwing {
  count += 1;
  const name = `${how}_${count}`;
  const listener = (...args: unknown[]) => {
    const error = new TypeError(`listener failed on ${String(args[0])}: ${SECRET}`);
    if (how === 'rejects') return Promise.reject(error);
    throw error;
  };
  Object.defineProperty(listener, 'name', { value: name });
  return { listener, name };
}

/** The listener warning naming `name`, once it came; checks what it says and hides. */
async function warningFor(name: string, event: string, how: 'throws' | 'rejects'): Promise<Error> {
  const find = () => warnings.find((warning) => warning.message.includes(`(\`${name}\`)`));
  await until(() => find() !== undefined, 5_000, `a listener warning naming ${name}`);
  const warning = find() as Error & { code?: unknown; listenerError?: unknown };
  assert.equal(warning.code, CODE);
  assert.equal(warning.name, 'Warning');
  assert.match(warning.message, new RegExp(`of the \`${event}\` event`));
  assert.match(
    warning.message,
    how === 'throws' ? /threw a TypeError;/ : /returned a promise that rejected with a TypeError;/,
  );
  for (const form of [
    warning.message,
    warning.stack ?? '',
    inspect(warning, { depth: Infinity }),
  ]) {
    assert.equal(form.includes(SECRET), false, `the warning prints the listener's error: ${form}`);
    assert.equal(form.includes('sid-'), false, `the warning prints a session id: ${form}`);
  }
  assert.ok(warning.listenerError instanceof TypeError, 'the error is there for a warning handler');
  assert.match(warning.listenerError.message, new RegExp(SECRET));
  return warning;
}

type Method = 'get' | 'set' | 'touch' | 'destroy';

interface Scenario {
  readonly event: keyof MongoDBStoreEvents;
  readonly what: string;
  readonly options?: MongoDBStoreOptions;
  readonly prepare?: (store: MongoDBStore, sid: string) => Promise<unknown>;
  readonly method: Method;
  readonly args: (sid: string) => unknown[];
  /** Checks what the operation resolved or called back with, and what it left stored. */
  readonly check: (value: unknown, store: MongoDBStore, sid: string) => Promise<void>;
}

const storedViews = async (store: MongoDBStore, sid: string) =>
  ((await store.repository.get(sid)) as { views?: number } | null)?.views;

const resolvesUndefinedAndStores =
  (views: number | undefined) => async (value: unknown, store: MongoDBStore, sid: string) => {
    assert.equal(value, undefined);
    assert.equal(await storedViews(store, sid), views);
  };

const unreadable: MongoDBStoreOptions = {
  serializer: {
    stringify: JSON.stringify,
    parse: () => {
      throw new SyntaxError('unreadable');
    },
  },
};

const scenarios: Scenario[] = [
  {
    event: 'get',
    what: 'get of a stored session',
    prepare: (store, sid) => store.set(sid, stored(1)),
    method: 'get',
    args: (sid) => [sid],
    check: async (value) => assert.equal((value as { views?: number } | null)?.views, 1),
  },
  {
    event: 'create',
    what: 'set of a new session',
    method: 'set',
    args: (sid) => [sid, stored(1)],
    check: resolvesUndefinedAndStores(1),
  },
  {
    event: 'update',
    what: 'set of a stored session',
    prepare: (store, sid) => store.set(sid, stored(1)),
    method: 'set',
    args: (sid) => [sid, stored(2)],
    check: resolvesUndefinedAndStores(2),
  },
  {
    event: 'set',
    what: 'set',
    method: 'set',
    args: (sid) => [sid, stored(1)],
    check: resolvesUndefinedAndStores(1),
  },
  {
    event: 'touch',
    what: 'touch',
    options: { touchAfterMs: 0 },
    prepare: (store, sid) => store.set(sid, stored(1)),
    method: 'touch',
    args: (sid) => [sid, stored(1, 2 * HOUR_MS)],
    check: resolvesUndefinedAndStores(1),
  },
  {
    event: 'destroy',
    what: 'destroy',
    prepare: (store, sid) => store.set(sid, stored(1)),
    method: 'destroy',
    args: (sid) => [sid],
    check: resolvesUndefinedAndStores(undefined),
  },
  {
    event: 'destroy',
    what: 'set of an expired cookie',
    prepare: (store, sid) => store.set(sid, stored(1)),
    method: 'set',
    args: (sid) => [sid, stored(2, -1_000)],
    check: resolvesUndefinedAndStores(undefined),
  },
  {
    event: 'refused',
    what: 'set of an ended session',
    prepare: async (store, sid) => {
      await store.set(sid, stored(1));
      await store.destroy(sid);
    },
    method: 'set',
    args: (sid) => [sid, stored(2)],
    check: resolvesUndefinedAndStores(undefined),
  },
  {
    event: 'error',
    what: 'get of an unreadable session',
    options: unreadable,
    prepare: (store, sid) => store.set(sid, stored(1)),
    method: 'get',
    args: (sid) => [sid],
    check: async (value) => assert.equal(value, null),
  },
];

/** Calls `method` of the store as express-session does (with a callback) or as `await` does. */
function call(
  store: MongoDBStore,
  method: Method,
  args: unknown[],
  callback?: (error: Error | null, value?: unknown) => void,
): Promise<unknown> | undefined {
  const bound = store[method] as (...given: unknown[]) => Promise<unknown> | undefined;
  return bound.apply(store, callback === undefined ? args : [...args, callback]);
}

for (const scenario of scenarios) {
  const { event, what } = scenario;
  for (const how of ['throws', 'rejects'] as const) {
    test(`a ${event} listener that ${how}: ${what} resolves as without it, and the next listener still runs`, async (t) => {
      const store = await openStore(t, scenario.options);
      const sid = `sid-${event}-${how}-promise`;
      await scenario.prepare?.(store, sid);
      const { listener, name } = failing(how);
      const heard: unknown[] = [];
      store.on(event, listener);
      store.on(event, (...args: unknown[]) => heard.push(args[0]));

      const value = await call(store, scenario.method, scenario.args(sid));
      await warningFor(name, event, how);
      await scenario.check(value, store, sid);
      await until(() => heard.length > 0, 5_000, 'the next listener is called');
      assert.equal(heard.length, 1);
    });

    test(`a ${event} listener that ${how}: ${what} calls back once, without an error`, async (t) => {
      const store = await openStore(t, scenario.options);
      const sid = `sid-${event}-${how}-callback`;
      await scenario.prepare?.(store, sid);
      const { listener, name } = failing(how);
      store.on(event, listener);

      const calls: Array<[Error | null, unknown]> = [];
      await new Promise<void>((resolve) => {
        call(store, scenario.method, scenario.args(sid), (error, value) => {
          calls.push([error, value]);
          resolve();
        });
      });
      await warningFor(name, event, how);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(calls.length, 1, 'called back once');
      const [[error, value] = [null, undefined]] = calls;
      assert.equal(error, null);
      await scenario.check(value, store, sid);
    });
  }
}

for (const event of ['connected', 'connect'] as const) {
  for (const how of ['throws', 'rejects'] as const) {
    test(`a ${event} listener that ${how}: the constructor callback is called once without an error, and the store works`, async (t) => {
      count += 1;
      const calls: unknown[][] = [];
      const store = new MongoDBStore(
        { uri: database.uri, databaseName: database.databaseName, collection: `connect_${count}` },
        (...args: unknown[]) => calls.push(args),
      );
      t.after(() => store.close());
      const { listener, name } = failing(how);
      store.on(event, listener);

      await warningFor(name, event, how);
      await until(() => calls.length > 0, 5_000, 'the constructor callback is called');
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(calls, [[]]);
      await store.set('sid-after-connect', stored(1));
      assert.equal(await storedViews(store, 'sid-after-connect'), 1);
    });
  }
}

test('an error listener that throws: a store that cannot connect still calls its constructor callback once, with the error', async (t) => {
  const port = await closedPort();
  const calls: unknown[] = [];
  const store = new MongoDBStore(
    { uri: `mongodb://127.0.0.1:${port}/?serverSelectionTimeoutMS=200` },
    (error) => calls.push(error),
  );
  t.after(() => store.close());
  const { listener, name } = failing('throws');
  store.on('error', listener);

  await until(() => calls.length > 0, 10_000, 'the constructor callback is called');
  await warningFor(name, 'error', 'throws');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls.length, 1);
  assert.ok(calls[0] instanceof ConnectionError);
});

test('a once listener that throws is removed after its call, as with emit', async (t) => {
  const store = await openStore(t);
  await store.set('sid-once', stored(1));
  const { listener, name } = failing('throws');
  store.once('get', listener);
  await store.get('sid-once');
  await warningFor(name, 'get', 'throws');
  assert.equal(store.listenerCount('get'), 0);
});

test('a listener failing on every operation is reported once', async (t) => {
  const store = await openStore(t);
  await store.set('sid-often', stored(1));
  const { listener, name } = failing('throws');
  store.on('get', listener);
  for (let round = 0; round < 3; round += 1) await store.get('sid-often');
  await warningFor(name, 'get', 'throws');
  await new Promise((resolve) => setImmediate(resolve));
  const named = warnings.filter((warning) => warning.message.includes(`(\`${name}\`)`));
  assert.equal(named.length, 1);
});

test('a thrown value that is no Error is named by its type, never shown', async (t) => {
  const store = await openStore(t);
  const listener = () => {
    throw `${SECRET} as a string`;
  };
  Object.defineProperty(listener, 'name', { value: 'throwsString' });
  store.on('set', listener);
  await store.set('sid-string', stored(1));
  await until(
    () => warnings.some((warning) => warning.message.includes('(`throwsString`)')),
    5_000,
    'the warning',
  );
  const warning = warnings.find((each) => each.message.includes('(`throwsString`)')) as Error;
  assert.match(warning.message, /threw a string;/);
  assert.equal(inspect(warning).includes(SECRET), false);
});
