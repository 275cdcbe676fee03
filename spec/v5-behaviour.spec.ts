/**
 * Version 5's behaviour where its users can observe it: the store class called without `new`,
 * a base `Store` that is not an event emitter, version 5's option forms, and callbacks checked
 * before anything is sent.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import expressSession, { type SessionData } from 'express-session';
import { type CommandStartedEvent, MongoClient } from 'mongodb';
import connectMongoDBSession, {
  ConnectionError,
  MongoDBStore,
  type MongoDBStoreOptions,
} from '../lib/index.js';
import { useSpecDatabase } from './support/database.js';
import { closedPort } from './support/tcp-proxy.js';

const database = useSpecDatabase(import.meta.url);
let collectionCount = 0;

function optionsFor(extra: MongoDBStoreOptions = {}): MongoDBStoreOptions {
  collectionCount += 1;
  return {
    uri: database.uri,
    databaseName: database.databaseName,
    collection: `v5_behaviour_${collectionCount}`,
    ...extra,
  };
}

const aSession = (views: number): SessionData =>
  ({ cookie: { expires: new Date(Date.now() + 60_000), originalMaxAge: 60_000 }, views }) as
    | SessionData
    | never;

test('the store class works when called without new, as version 5 allowed', async (t) => {
  const callable = MongoDBStore as unknown as (options: MongoDBStoreOptions) => MongoDBStore;
  const store = callable(optionsFor());
  t.after(() => store.close());

  assert.ok(store instanceof MongoDBStore);
  assert.ok(store instanceof expressSession.Store);
  await store.set('sid-1', aSession(1));
  assert.equal((await store.get('sid-1'))?.views, 1);
});

test('the factory-built class also works when called without new', async (t) => {
  const Store = connectMongoDBSession(expressSession);
  const store = (Store as unknown as (options: MongoDBStoreOptions) => MongoDBStore)(optionsFor());
  t.after(() => store.close());
  await once(store, 'connected');
});

/** A connect-style `Store` base that is not an EventEmitter (version 5 accepted any). */
class PlainStore {
  touchedByBase = true;
}

test('on a base Store that is no event emitter, the store still offers on, once, off, emit and listenerCount, one emitter for all', async (t) => {
  const Store = connectMongoDBSession({ Store: PlainStore });
  const store = new Store(optionsFor());
  t.after(() => store.close());
  const seen: string[] = [];
  const onConnect = () => seen.push('connect');
  store.on('connect', onConnect);
  store.once('connected', () => seen.push('connected'));
  assert.equal(store.listenerCount('connect'), 1);
  await once(store, 'connected');
  await setImmediate();
  assert.deepEqual(seen.sort(), ['connect', 'connected']);
  assert.equal(store.listenerCount('connected'), 0, 'once listeners are removed');
  store.off('connect', onConnect);
  assert.equal(store.listenerCount('connect'), 0);
  assert.equal(store.emit('custom'), false);
  assert.equal((store as unknown as PlainStore).touchedByBase, true, 'the base constructor ran');
  await store.set('sid-1', aSession(2));
  assert.equal((await store.get('sid-1'))?.views, 2);
});

test('on a base Store that is no event emitter, a failed connection reaches the error listener, with no crash from a tick', async (t) => {
  const Store = connectMongoDBSession({ Store: PlainStore });
  const port = await closedPort();
  const store = new Store({
    uri: `mongodb://127.0.0.1:${port}/`,
    connectionOptions: { serverSelectionTimeoutMS: 200 },
  });
  t.after(() => store.close());
  const [error] = await once(store, 'error');
  assert.ok(error instanceof ConnectionError);
});

test('any falsy options mean the defaults, as in version 5', (t) => {
  for (const falsy of [undefined, null, false, 0, '']) {
    const store = new MongoDBStore(falsy as unknown as MongoDBStoreOptions);
    t.after(() => store.close());
    assert.equal(store.options.uri, 'mongodb://127.0.0.1:27017/test');
    assert.equal(store.options.collection, 'sessions');
    store.on('error', () => undefined);
  }
});

test('null option values mean their defaults, as in version 5', (t) => {
  const store = new MongoDBStore({
    uri: database.uri,
    databaseName: null,
    connectionOptions: null,
    collection: null,
    expires: null,
  } as unknown as MongoDBStoreOptions);
  t.after(() => store.close());
  assert.equal(store.options.databaseName, null);
  assert.equal(store.options.collection, 'sessions');
  assert.equal(store.options.expires, 14 * 24 * 60 * 60 * 1000);
});

test('numeric strings are taken as numbers, as version 5 took them', (t) => {
  const store = new MongoDBStore(
    optionsFor({ expires: '60000', expiresAfterSeconds: '30' } as unknown as MongoDBStoreOptions),
  );
  t.after(() => store.close());
  assert.equal(store.options.expires, 60_000);
  assert.equal(store.options.expiresAfterSeconds, 30);
});

test("store.options shows version 5's names with version 5's defaults", (t) => {
  const store = new MongoDBStore();
  t.after(() => store.close());
  store.on('error', () => undefined);
  const { options } = store;
  assert.equal(options.uri, 'mongodb://127.0.0.1:27017/test');
  assert.equal(options.collection, 'sessions');
  assert.equal(options.expires, 14 * 24 * 60 * 60 * 1000);
  assert.equal(options.idField, '_id');
  assert.equal(options.databaseName, null);
  assert.equal(options.expiresKey, 'expires');
  assert.equal(options.expiresAfterSeconds, 0);
});

async function monitoredStore(t: TestContext) {
  const client = new MongoClient(database.uri, { monitorCommands: true });
  const commands: string[] = [];
  client.on('commandStarted', (event: CommandStartedEvent) => commands.push(event.commandName));
  const store = new MongoDBStore({ ...optionsFor(), uri: undefined, client });
  t.after(async () => {
    await store.close();
    await client.close();
  });
  await once(store, 'connected');
  commands.length = 0;
  return { store, commands };
}

test('a callback that is not a function is a TypeError before anything is sent', async (t) => {
  const { store, commands } = await monitoredStore(t);
  const notAFunction = 'not a function' as never;
  assert.throws(() => store.set('sid-1', aSession(1), notAFunction), TypeError);
  assert.throws(() => store.get('sid-1', notAFunction), TypeError);
  assert.throws(() => store.touch('sid-1', aSession(1), notAFunction), TypeError);
  assert.throws(() => store.destroy('sid-1', notAFunction), TypeError);
  assert.throws(() => store.clear(notAFunction), TypeError);
  await setImmediate();
  assert.deepEqual(commands, []);
  assert.equal(await store.get('sid-1'), null, 'the refused set wrote nothing');
});
