import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { type CommandStartedEvent, MongoClient } from 'mongodb';
import type { SessionLike } from '../lib/codec/session-types.js';
import {
  ConnectionError,
  InvalidSessionIdError,
  OperationError,
  OperationTimeoutError,
  StoreClosedError,
} from '../lib/errors/classes.js';
import { SessionRepository } from '../lib/repository/session-repository.js';
import { useSpecDatabase } from './support/database.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

interface Visit extends SessionLike {
  views?: number;
}

const database = useSpecDatabase(import.meta.url);
const inAMinute = () => new Date(Date.now() + 60_000);
let collectionCount = 0;

/**
 * A repository whose client reaches the server through a loopback proxy the spec can cut or
 * freeze. The driver's own retries are off, so that what is retried is the repository's doing.
 */
async function behindProxy(t: TestContext, options: { operationTimeoutMs?: number } = {}) {
  const proxy = await startTcpProxy(database.uri);
  const client = new MongoClient(`mongodb://127.0.0.1:${proxy.port}/`, {
    monitorCommands: true,
    retryReads: false,
    retryWrites: false,
    serverSelectionTimeoutMS: 2_000,
    // No heartbeat during the spec, so that an armed cut hits the operation, not the monitor.
    heartbeatFrequencyMS: 60_000,
  });
  collectionCount += 1;
  const repository = new SessionRepository<Visit>({
    client,
    databaseName: database.databaseName,
    collection: `faults_${collectionCount}`,
    ...options,
  });
  const commands: string[] = [];
  client.on('commandStarted', (event: CommandStartedEvent) => commands.push(event.commandName));
  t.after(async () => {
    await repository.close();
    // Cut first: the client's close would otherwise wait for a frozen proxy.
    await proxy.close();
    await client.close();
  });
  await repository.ready();
  // Indexes are ensured beside the requests: settled first, so that the specs count only theirs.
  await repository.whenIndexed();
  return { repository, proxy, commands };
}

function cutAndCount(proxy: TcpProxy, commands: string[]) {
  commands.length = 0;
  proxy.cutNextRequest();
}

describe('retries of idempotent operations', () => {
  test('set whose connection is cut mid-request is sent once more and succeeds', async (t) => {
    const { repository, proxy, commands } = await behindProxy(t);
    cutAndCount(proxy, commands);
    await repository.set('s1', { cookie: { expires: inAMinute() }, views: 1 });
    assert.deepEqual(commands, ['update', 'update']);
    assert.equal((await repository.get('s1'))?.views, 1);
  });

  test('get whose connection is cut mid-request is sent once more and finds the session', async (t) => {
    const { repository, proxy, commands } = await behindProxy(t);
    await repository.set('s1', { cookie: { expires: inAMinute() }, views: 2 });
    cutAndCount(proxy, commands);
    assert.equal((await repository.get('s1'))?.views, 2);
    assert.deepEqual(commands, ['find', 'find']);
  });

  test('touch and destroy whose connection is cut mid-request are sent once more', async (t) => {
    const { repository, proxy, commands } = await behindProxy(t);
    await repository.set('s1', { cookie: { expires: inAMinute() }, views: 3 });
    cutAndCount(proxy, commands);
    // Later than the lazy-touch window, so that the touch has to write.
    await repository.touch('s1', { cookie: { expires: new Date(Date.now() + 10 * 60_000) } });
    assert.deepEqual(commands, ['update', 'update']);
    cutAndCount(proxy, commands);
    await repository.destroy('s1');
    assert.deepEqual(commands, ['update', 'update'], 'destroy: the upsert of its record, twice');
    assert.equal(await repository.get('s1'), null);
  });

  test('an operation that is not idempotent is not retried: length fails with OperationError after one try', async (t) => {
    const { repository, proxy, commands } = await behindProxy(t);
    cutAndCount(proxy, commands);
    await assert.rejects(repository.length(), (error: unknown) => {
      assert.ok(error instanceof OperationError);
      assert.equal(error.operation, 'length');
      return true;
    });
    assert.deepEqual(commands, ['aggregate']);
  });
});

describe('deadlines', () => {
  test('an operation against a server that stopped answering rejects with OperationTimeoutError at its deadline', async (t) => {
    const { repository, proxy } = await behindProxy(t, { operationTimeoutMs: 300 });
    proxy.freeze();
    const started = Date.now();
    await assert.rejects(repository.get('s1'), (error: unknown) => {
      assert.ok(error instanceof OperationTimeoutError);
      assert.equal(error.operation, 'get');
      assert.equal(error.timeoutMs, 300);
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took >= 290 && took < 2_000, `rejected after ${took} ms`);
  });

  test('close answers within the deadline even when a running operation never returns', async (t) => {
    const { repository, proxy } = await behindProxy(t, { operationTimeoutMs: 300 });
    proxy.freeze();
    const hung = repository.get('s1');
    hung.catch(() => undefined);
    const started = Date.now();
    await repository.close();
    assert.ok(Date.now() - started < 2_000);
    await assert.rejects(hung, OperationTimeoutError);
  });
});

describe('clientPromise', () => {
  test('a clientPromise that rejects before the first operation is no unhandled rejection; operations reject with ConnectionError', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const cause = new Error('no client today');
      const repository = new SessionRepository({
        clientPromise: Promise.reject(cause),
        databaseName: database.databaseName,
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      await setImmediate();
      assert.deepEqual(unhandled, []);
      await assert.rejects(repository.get('a'), (error: unknown) => {
        assert.ok(error instanceof ConnectionError);
        assert.equal(error.driverError, cause);
        return true;
      });
      await repository.close();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('a clientPromise given as a function is called again on the next attempt, so the store recovers', async () => {
    let calls = 0;
    const repository = new SessionRepository<Visit>({
      clientPromise: async () => {
        calls += 1;
        if (calls === 1) throw new Error('not yet');
        return database.client;
      },
      databaseName: database.databaseName,
      collection: 'client_promise_function',
    });
    await assert.rejects(repository.get('a'), ConnectionError);
    await repository.set('a', { cookie: { expires: inAMinute() }, views: 5 });
    assert.equal((await repository.get('a'))?.views, 5);
    assert.equal(calls, 2);
    await repository.close();
  });

  test('close does not hang on a clientPromise that never settles', async () => {
    const repository = new SessionRepository({
      clientPromise: new Promise(() => undefined),
      operationTimeoutMs: 200,
    });
    const waiting = repository.get('a');
    waiting.catch(() => undefined);
    const started = Date.now();
    await repository.close();
    assert.ok(Date.now() - started < 2_000);
    await assert.rejects(waiting, OperationTimeoutError);
    await assert.rejects(repository.get('b'), StoreClosedError);
  });
});

describe('close', () => {
  test('close of a store that created its client answers within a deadline even when the server is frozen', async () => {
    const proxy = await startTcpProxy(database.uri);
    const repository = new SessionRepository({
      uri: `mongodb://127.0.0.1:${proxy.port}/`,
      databaseName: database.databaseName,
      operationTimeoutMs: 300,
    });
    try {
      await repository.ready();
      proxy.freeze();
      const hung = repository.get('s1');
      hung.catch(() => undefined);
      const started = Date.now();
      await repository.close();
      assert.ok(Date.now() - started < 2_000, `closed after ${Date.now() - started} ms`);
    } finally {
      await proxy.close();
    }
  });
});

describe('iteration and close', () => {
  test('close ends a running iteration with StoreClosedError, never silently', async () => {
    const collection = 'iterate_close';
    const expires = inAMinute();
    await database.db.collection(collection).insertMany(
      Array.from({ length: 1_200 }, (_, i) => ({
        _id: `s${i}` as never,
        session: { i },
        expires,
      })),
    );
    const repository = new SessionRepository({
      client: database.client,
      databaseName: database.databaseName,
      collection,
    });
    const iterator = repository.sessions();
    const first = await iterator.next();
    assert.equal(first.done, false);
    await repository.close();
    await assert.rejects(iterator.next(), StoreClosedError);
  });

  test('an iteration started after close rejects with StoreClosedError', async () => {
    const repository = new SessionRepository({
      client: database.client,
      databaseName: database.databaseName,
    });
    await repository.close();
    await assert.rejects(repository.sessions().next(), StoreClosedError);
  });
});

describe('session ids', () => {
  test('a session id longer than any cookie can carry is refused before anything is sent', async (t) => {
    const { repository, commands } = await behindProxy(t);
    commands.length = 0;
    const huge = 'x'.repeat(1_000_000);
    await assert.rejects(repository.get(huge), InvalidSessionIdError);
    await assert.rejects(repository.set(huge, {}), InvalidSessionIdError);
    await assert.rejects(repository.destroy([huge]), InvalidSessionIdError);
    assert.deepEqual(commands, []);
    const error = await repository.get(huge).catch((caught: unknown) => caught);
    assert.ok(!String((error as Error).message).includes('xxxx'), 'the id is not echoed');
  });
});
