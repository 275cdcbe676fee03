import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import type { SessionLike } from '../lib/codec/session-types.js';
import {
  ConnectionError,
  OperationError,
  OperationTimeoutError,
  OverloadedError,
  QueueFullError,
  StoreClosedError,
} from '../lib/errors/classes.js';
import { ConnectionGate } from '../lib/repository/connection-gate.js';
import { MIN_IN_FLIGHT, PROBES } from '../lib/repository/load-shedder.js';
import { SessionRepository } from '../lib/repository/session-repository.js';
import { useSpecDatabase } from './support/database.js';
import { closedPort, startTcpProxy } from './support/tcp-proxy.js';

/** Retries `attempt` until it resolves, for at most 10 s (the driver reconnects in the background). */
async function eventually<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A connect function the spec settles by hand, counting its calls. */
function manualConnect<T>() {
  const attempts: Array<{ resolve: (value: T) => void; reject: (error: unknown) => void }> = [];
  const connect = () =>
    new Promise<T>((resolve, reject) => {
      attempts.push({ resolve, reject });
    });
  const attempt = (index: number) => {
    const found = attempts[index];
    assert.ok(found, `connect attempt ${index + 1} was made`);
    return found;
  };
  return { connect, attempts, attempt };
}

describe('the gate on its own', () => {
  test('operations issued before connecting wait, then run once connected, with one connect', async () => {
    const { connect, attempts, attempt } = manualConnect<string>();
    const gate = new ConnectionGate(connect, { maxPending: 100, timeoutMs: 0 });
    const results = Promise.all(
      [1, 2, 3].map((n) => gate.run('op', async (value) => `${value}:${n}`)),
    );
    assert.equal(attempts.length, 1);
    attempt(0).resolve('db');
    assert.deepEqual(await results, ['db:1', 'db:2', 'db:3']);
    assert.equal(await gate.run('op', async (value) => value), 'db');
    assert.equal(attempts.length, 1);
  });

  test('a failed connection rejects every waiting operation with a ConnectionError carrying the driver error', async () => {
    const { connect, attempt } = manualConnect<string>();
    const gate = new ConnectionGate(connect, { maxPending: 100, timeoutMs: 0 });
    const waiting = [1, 2, 3].map(() => gate.run('op', async (value) => value));
    const cause = new Error('refused');
    attempt(0).reject(cause);
    for (const operation of waiting) {
      await assert.rejects(operation, (error: unknown) => {
        assert.ok(error instanceof ConnectionError);
        assert.equal(error.code, 'CONNECTION_FAILED');
        assert.equal(error.driverError, cause);
        assert.equal(
          (error.cause as Error).name,
          'Error',
          'the cause names it, without its message',
        );
        return true;
      });
    }
  });

  test('the next operation after a failure connects again', async () => {
    const { connect, attempts, attempt } = manualConnect<string>();
    const gate = new ConnectionGate(connect, { maxPending: 100, timeoutMs: 0 });
    const first = gate.run('op', async (value) => value);
    attempt(0).reject(new Error('down'));
    await assert.rejects(first, ConnectionError);
    const second = gate.run('op', async (value) => value);
    assert.equal(attempts.length, 2);
    attempt(1).resolve('back');
    assert.equal(await second, 'back');
  });

  test('past the pending bound, new operations reject at once and the waiting ones still run', async () => {
    const { connect, attempt } = manualConnect<string>();
    const gate = new ConnectionGate(connect, { maxPending: 2, timeoutMs: 0 });
    const waiting = [gate.run('op', async () => 'a'), gate.run('op', async () => 'b')];
    await assert.rejects(
      gate.run('op', async () => 'c'),
      QueueFullError,
    );
    attempt(0).resolve('db');
    assert.deepEqual(await Promise.all(waiting), ['a', 'b']);
  });

  test('close waits for a running operation and refuses new ones', async () => {
    const { connect, attempt } = manualConnect<string>();
    const gate = new ConnectionGate(connect, { maxPending: 10, timeoutMs: 0 });
    gate.open();
    attempt(0).resolve('db');
    await gate.run('op', async () => undefined);
    let finish: () => void = () => undefined;
    let finished = false;
    const running = gate.run(
      'op',
      () =>
        new Promise<void>((resolve) => {
          finish = () => {
            finished = true;
            resolve();
          };
        }),
    );
    const closing = gate.close();
    await assert.rejects(
      gate.run('op', async () => undefined),
      StoreClosedError,
    );
    finish();
    await closing;
    assert.equal(finished, true);
    await running;
  });
});

/** A promise the spec settles by hand. */
function manual<T = void>() {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

/** An open gate with the given bound and deadline. */
async function openGate(maxPending: number, timeoutMs: number) {
  const gate = new ConnectionGate(async () => 'db', { maxPending, timeoutMs });
  await gate.run('op', async () => undefined);
  return gate;
}

describe('the gate once open: bound, deadlines, leases', () => {
  test('the pending bound holds after connecting: past it operations reject at once, and a settled one frees its place', async () => {
    const gate = await openGate(2, 0);
    const first = manual();
    const second = manual();
    const running = [gate.run('op', () => first.promise), gate.run('op', () => second.promise)];
    assert.equal(gate.pending, 2);
    await assert.rejects(
      gate.run('op', async () => undefined),
      QueueFullError,
    );
    first.resolve();
    await running[0];
    assert.equal(await gate.run('op', async () => 'fits again'), 'fits again');
    second.resolve();
    await running[1];
    assert.equal(gate.pending, 0);
  });

  test('an operation that never settles rejects with OperationTimeoutError once its deadline passes, and keeps its place until it settles', async () => {
    const gate = await openGate(1, 50);
    const hung = manual();
    const started = Date.now();
    await assert.rejects(
      gate.run('get', () => hung.promise),
      (error: unknown) => {
        assert.ok(error instanceof OperationTimeoutError);
        assert.equal(error.code, 'OPERATION_TIMEOUT');
        assert.equal(error.operation, 'get');
        return true;
      },
    );
    assert.ok(Date.now() - started < 1_000);
    // Still running in the driver: it still counts, so memory stays bounded.
    await assert.rejects(
      gate.run('op', async () => undefined),
      QueueFullError,
    );
    hung.resolve();
    await setImmediate();
    assert.equal(await gate.run('op', async () => 'free'), 'free');
  });

  test('an operation learns that its deadline has passed, so it does not try again', async () => {
    const gate = await openGate(10, 30);
    const seen = manual<boolean>();
    await assert.rejects(
      gate.run('op', async (_value, deadline) => {
        await new Promise((resolve) => setTimeout(resolve, 60));
        seen.resolve(deadline.expired);
      }),
      OperationTimeoutError,
    );
    assert.equal(await seen.promise, true);
  });

  test('an operation waiting for a connection that never comes times out and gives back its place', async () => {
    const gate = new ConnectionGate(() => new Promise<string>(() => undefined), {
      maxPending: 1,
      timeoutMs: 30,
    });
    await assert.rejects(
      gate.run('op', async () => undefined),
      OperationTimeoutError,
    );
    assert.equal(gate.pending, 0);
    await assert.rejects(
      gate.run('op', async () => undefined),
      OperationTimeoutError,
      'not QueueFullError: the expired operation left the queue',
    );
  });

  test('close resolves once a waiting operation reaches its deadline when the connection never comes', async () => {
    const gate = new ConnectionGate(() => new Promise<string>(() => undefined), {
      maxPending: 10,
      timeoutMs: 50,
    });
    const waiting = gate.run('op', async () => undefined);
    waiting.catch(() => undefined);
    const started = Date.now();
    await gate.close();
    assert.ok(Date.now() - started < 2_000);
    await assert.rejects(waiting, OperationTimeoutError);
  });

  test('close aborts a held lease with StoreClosedError and does not wait for its holder', async () => {
    const gate = await openGate(10, 0);
    const lease = await gate.lease('sessions');
    assert.equal(lease.value, 'db');
    assert.equal(gate.pending, 1);
    lease.signal.addEventListener('abort', () => lease.release());
    await gate.close();
    assert.ok(lease.signal.aborted);
    assert.ok(lease.signal.reason instanceof StoreClosedError);
    assert.equal(gate.pending, 0);
  });

  test('whenOpen holds no place in the bound, and close rejects it with StoreClosedError without waiting for it', async () => {
    const { connect } = manualConnect<string>();
    const gate = new ConnectionGate(connect, { maxPending: 1, timeoutMs: 0 });
    const opened = gate.whenOpen();
    assert.equal(gate.pending, 0);
    const waiting = gate.run('op', async () => 'ran');
    await gate.close();
    await assert.rejects(opened, StoreClosedError);
    await assert.rejects(waiting, StoreClosedError, 'without a deadline, close refuses it');
    await assert.rejects(gate.whenOpen(), StoreClosedError);
  });

  test('onOpen is called when a connection succeeds after a failed one, and not when the gate closed first', async () => {
    const { connect, attempt } = manualConnect<string>();
    let opened = 0;
    const gate = new ConnectionGate(connect, {
      maxPending: 10,
      timeoutMs: 0,
      onOpen: () => {
        opened += 1;
      },
    });
    const first = gate.run('op', async () => undefined);
    attempt(0).reject(new Error('down'));
    await assert.rejects(first, ConnectionError);
    assert.equal(opened, 0);
    const second = gate.run('op', async (value) => value);
    attempt(1).resolve('back');
    assert.equal(await second, 'back');
    assert.equal(opened, 1);

    const other = manualConnect<string>();
    let openedAfterClose = 0;
    const closing = new ConnectionGate(other.connect, {
      maxPending: 10,
      timeoutMs: 0,
      onOpen: () => {
        openedAfterClose += 1;
      },
    });
    closing.open();
    const closed = closing.close();
    other.attempt(0).resolve('late');
    await closed;
    assert.equal(openedAfterClose, 0);
  });
});

/** An open gate that sends at most `maxInFlight` operations at once. */
async function openThrottledGate(maxInFlight: number, timeoutMs: number, maxPending = 100) {
  const gate = new ConnectionGate(async () => 'db', { maxPending, timeoutMs, maxInFlight });
  await gate.run('op', async () => undefined);
  return gate;
}

/** Whether `promise` has settled by the end of this turn of the event loop. */
async function settledNow(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await setImmediate();
  return settled;
}

/** Makes the gate learn that the database stalled: an operation sent outlives its deadline. */
async function stall(gate: ConnectionGate<string>) {
  const hung = manual();
  await assert.rejects(
    gate.run('get', () => hung.promise),
    OperationTimeoutError,
  );
  assert.equal(gate.stalled, true);
  return hung;
}

describe('the gate once open: shedding what cannot finish in time', () => {
  test('past maxInFlight, operations wait their turn and are sent in order as earlier ones settle', async () => {
    const gate = await openThrottledGate(2, 0);
    const sent: number[] = [];
    const running = [1, 2, 3, 4].map((n) => {
      const settle = manual();
      const result = gate.run('op', async () => {
        sent.push(n);
        await settle.promise;
        return n;
      });
      return { settle, result };
    });
    assert.deepEqual(sent, [1, 2]);
    assert.equal(gate.inFlight, 2);
    assert.equal(gate.pending, 4);
    running[1]?.settle.resolve();
    await running[1]?.result;
    assert.deepEqual(sent, [1, 2, 3]);
    running[0]?.settle.resolve();
    await running[0]?.result;
    assert.deepEqual(sent, [1, 2, 3, 4]);
    for (const { settle } of running) settle.resolve();
    assert.deepEqual(await Promise.all(running.map(({ result }) => result)), [1, 2, 3, 4]);
    assert.equal(gate.inFlight, 0);
    assert.equal(gate.pending, 0);
  });

  test('a quiet gate sends MIN_IN_FLIGHT operations at once, and more once the database has answered more', async () => {
    const gate = await openThrottledGate(64, 0);
    const hung = manual();
    const first = Array.from({ length: 20 }, () => gate.run('op', () => hung.promise));
    assert.equal(gate.inFlight, MIN_IN_FLIGHT);
    hung.resolve();
    await Promise.all(first);
    // 201 answers in the last second (opening the gate, then 20, then 180): a quarter of them is 51.
    for (let i = 0; i < 180; i += 1) await gate.run('op', async () => undefined);
    const again = manual();
    const second = Array.from({ length: 60 }, () => gate.run('op', () => again.promise));
    assert.equal(gate.inFlight, 51);
    again.resolve();
    await Promise.all(second);
  });

  test('an operation that waited half its deadline for its turn is refused with OverloadedError, never sent', async () => {
    const gate = await openThrottledGate(1, 200);
    const slow = manual();
    const running = gate.run('op', () => slow.promise);
    let sent = false;
    const waiting = gate.run('get', async () => {
      sent = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 120));
    slow.resolve();
    await running;
    await assert.rejects(waiting, (error: unknown) => {
      assert.ok(error instanceof OverloadedError);
      assert.equal(error.code, 'OVERLOADED');
      assert.equal(error.reason, 'queued');
      assert.equal(error.operation, 'get');
      return true;
    });
    assert.equal(sent, false);
    assert.equal(gate.pending, 0);
    assert.equal(await gate.run('op', async () => 'sent'), 'sent', 'the next one is sent at once');
  });

  test('once an operation sent outlives its deadline, only probes are sent and the others are refused at once', async () => {
    const gate = await openThrottledGate(10, 50);
    const hung = await stall(gate);
    const probes = Array.from({ length: PROBES }, () => manual<string>());
    const probing = probes.map((probe) => gate.run('probe', () => probe.promise));
    const refused = gate.run('get', async () => 'sent');
    assert.equal(await settledNow(refused), true, 'refused in the turn it was issued');
    await assert.rejects(refused, (error: unknown) => {
      assert.ok(error instanceof OverloadedError);
      assert.equal(error.reason, 'unanswered');
      return true;
    });
    for (const [i, probe] of probes.entries()) probe.resolve(`answer ${i}`);
    assert.deepEqual(await Promise.all(probing), ['answer 0', 'answer 1']);
    assert.equal(gate.stalled, false);
    assert.equal(await gate.run('get', async () => 'sent'), 'sent');
    hung.resolve();
  });

  test('a probe unanswered for a fifth of its deadline no longer holds back the next one', async () => {
    const gate = await openThrottledGate(10, 200);
    const hung = await stall(gate);
    const stuck = Array.from({ length: PROBES }, () => gate.run('probe', () => hung.promise));
    for (const probe of stuck) probe.catch(() => undefined);
    await assert.rejects(
      gate.run('get', async () => 'sent'),
      OverloadedError,
    );
    // Past 40 ms the stuck probes stay in flight, but another may go: to a new primary, say.
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await gate.run('get', async () => 'answered'), 'answered');
    assert.equal(gate.stalled, false);
    hung.resolve();
  });

  test('operations waiting for their turn when the gate learns of the stall are refused at once', async () => {
    const gate = await openThrottledGate(1, 100);
    const hung = manual();
    const running = gate.run('get', () => hung.promise);
    running.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 60));
    let sent = false;
    const waiting = gate.run('set', async () => {
      sent = true;
    });
    await assert.rejects(running, OperationTimeoutError);
    await assert.rejects(waiting, OverloadedError);
    assert.equal(sent, false);
    assert.equal(gate.pending, 1, 'only the operation still in the driver holds a place');
    hung.resolve();
  });

  test('a probe that fails keeps the gate shedding, and the next operation is a probe', async () => {
    const gate = await openThrottledGate(10, 50);
    const hung = await stall(gate);
    await assert.rejects(
      gate.run('probe', async () => {
        throw new Error('no answer');
      }),
      /no answer/,
    );
    assert.equal(gate.stalled, true);
    assert.equal(await gate.run('probe', async () => 'answered'), 'answered');
    assert.equal(gate.stalled, false);
    hung.resolve();
  });

  test('an operation sent before the stall that is answered late lets everything through again', async () => {
    const gate = await openThrottledGate(10, 50);
    const hung = await stall(gate);
    hung.resolve();
    await setImmediate();
    assert.equal(gate.stalled, false);
    assert.equal(gate.inFlight, 0);
  });

  test('an operation that times out waiting for the connection does not make the gate shed', async () => {
    const { connect, attempt } = manualConnect<string>();
    const gate = new ConnectionGate(connect, { maxPending: 10, timeoutMs: 30 });
    await assert.rejects(
      gate.run('op', async () => undefined),
      OperationTimeoutError,
    );
    attempt(0).resolve('db');
    assert.equal(gate.stalled, false);
    assert.equal(await gate.run('op', async (value) => value), 'db');
  });

  test('what the first connection sends on open goes before the operations that waited for it', async () => {
    const { connect, attempt } = manualConnect<string>();
    const sent: string[] = [];
    const gate: ConnectionGate<string> = new ConnectionGate(connect, {
      maxPending: 10,
      timeoutMs: 0,
      maxInFlight: 1,
      onOpen: () => {
        void gate.run('createIndex', async () => {
          sent.push('createIndex');
        });
      },
    });
    const waited = ['a', 'b'].map((name) =>
      gate.run(name, async () => {
        sent.push(name);
      }),
    );
    attempt(0).resolve('db');
    await Promise.all(waited);
    assert.deepEqual(sent, ['createIndex', 'a', 'b']);
  });

  test('a lease takes no turn and is not refused while the gate sheds', async () => {
    const gate = await openThrottledGate(1, 50);
    const hung = await stall(gate);
    const lease = await gate.lease('sessions');
    assert.equal(lease.value, 'db');
    lease.release();
    hung.resolve();
  });

  test('close without a deadline refuses operations waiting for their turn with StoreClosedError', async () => {
    const gate = await openThrottledGate(1, 0);
    const running = manual();
    const first = gate.run('op', () => running.promise);
    const waiting = gate.run('op', async () => 'sent');
    const closing = gate.close();
    await assert.rejects(waiting, StoreClosedError);
    running.resolve();
    await first;
    await closing;
  });

  test('an operation learns how much of its deadline is left, for maxTimeMS; none without a deadline', async () => {
    const gate = await openThrottledGate(10, 1_000);
    const left = await gate.run('op', async (_value, deadline) => deadline.remainingMs);
    assert.ok(left !== undefined && left > 900 && left <= 1_000, `${left} ms left`);
    const later = await gate.run('op', async (_value, deadline) => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return deadline.remainingMs;
    });
    assert.ok(later !== undefined && later <= 920, `${later} ms left after 100 ms`);
    const unbounded = await openThrottledGate(10, 0);
    assert.equal(
      await unbounded.run('op', async (_value, deadline) => deadline.remainingMs),
      undefined,
    );
  });
});

describe('the gate in front of a real server', () => {
  const database = useSpecDatabase(import.meta.url);

  function repositoryOn(port: number, maxPendingOperations = 100) {
    return new SessionRepository<SessionLike & { views?: number }>({
      uri: `mongodb://127.0.0.1:${port}/`,
      databaseName: database.databaseName,
      connectionOptions: { serverSelectionTimeoutMS: 300, connectTimeoutMS: 300 },
      maxPendingOperations,
    });
  }

  test('operations issued before the client connects complete', async () => {
    const repository = new SessionRepository({
      uri: database.uri,
      databaseName: database.databaseName,
    });
    try {
      const expires = new Date(Date.now() + 60_000);
      await Promise.all([
        repository.set('early-1', { cookie: { expires } }),
        repository.set('early-2', { cookie: { expires } }),
      ]);
      assert.equal(await repository.length(), 2);
    } finally {
      await repository.close();
    }
  });

  test('an unreachable server rejects every queued operation promptly with a ConnectionError', async () => {
    const repository = repositoryOn(await closedPort());
    try {
      const started = Date.now();
      const results = await Promise.allSettled([
        repository.get('a'),
        repository.set('b', {}),
        repository.length(),
        repository.ready(),
      ]);
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        assert.ok(result.reason instanceof ConnectionError);
      }
      assert.ok(
        Date.now() - started < 10_000,
        'rejected within the server selection timeout, not hanging',
      );
    } finally {
      await repository.close();
    }
  });

  test('the repository recovers when the server becomes reachable, without a restart', async () => {
    const port = await closedPort();
    const repository = repositoryOn(port);
    const proxy = { current: undefined as Awaited<ReturnType<typeof startTcpProxy>> | undefined };
    try {
      await assert.rejects(repository.get('a'), ConnectionError);
      proxy.current = await startTcpProxy(database.uri, port);
      await repository.set('a', { cookie: { expires: new Date(Date.now() + 60_000) } });
      assert.notEqual(await repository.get('a'), null);
    } finally {
      await repository.close();
      await proxy.current?.close();
    }
  });

  test('a dropped connection fails operations with a typed error, and the store serves again once the server is back', async () => {
    const port = await closedPort();
    let proxy = await startTcpProxy(database.uri, port);
    const repository = repositoryOn(port);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await repository.set('kept', {
        cookie: { expires: new Date(Date.now() + 60_000) },
        views: 1,
      });
      await proxy.close();
      const during = await Promise.allSettled([
        repository.get('kept'),
        repository.set('new', {}),
        repository.length(),
      ]);
      for (const result of during) {
        assert.equal(result.status, 'rejected');
        assert.ok(
          result.reason instanceof OperationError,
          'a driver failure arrives as OperationError',
        );
      }
      proxy = await startTcpProxy(database.uri, port);
      const back = await eventually(() => repository.get('kept'));
      assert.equal(back?.views, 1);
      await setImmediate();
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await repository.close();
      await proxy.close();
    }
  });

  test('operations past maxPendingOperations reject at once with QueueFullError', async () => {
    const repository = repositoryOn(await closedPort(), 2);
    try {
      const waiting = [repository.get('a'), repository.get('b')];
      await assert.rejects(repository.get('c'), QueueFullError);
      for (const operation of waiting) await assert.rejects(operation, ConnectionError);
    } finally {
      await repository.close();
    }
  });
});
