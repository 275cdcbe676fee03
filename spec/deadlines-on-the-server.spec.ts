/**
 * An operation's deadline reaches the server: the time it has left goes with each command as
 * `maxTimeMS`, so that the server too gives up work nobody waits for any more. What drivers 6
 * and 7 send, and what FerretDB does with it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CommandStartedEvent, Document } from 'mongodb';
import { MongoClient as MongoClient6 } from 'mongodb6';
import { ConnectionGate } from '../lib/repository/connection-gate.js';
import { timeLimit } from '../lib/repository/operations.js';
import { specBackend, useSpecDatabase } from './support/database.js';

const database = useSpecDatabase(import.meta.url);
const DEADLINE_MS = 5_000;
/** FerretDB's and MongoDB's code for a command stopped at its `maxTimeMS`. */
const MAX_TIME_MS_EXPIRED = 50;

/** The parts of a collection of driver 6 or 7 that the specs call. */
interface AnyCollection {
  findOne(filter: Document, options?: Document): Promise<unknown>;
  updateOne(filter: Document, update: Document, options?: Document): Promise<unknown>;
  countDocuments(filter: Document, options?: Document): Promise<number>;
  deleteMany(filter: Document, options?: Document): Promise<unknown>;
  find(filter: Document, options?: Document): { toArray(): Promise<unknown[]> };
}

/** A client of driver 6 or 7 that reports the commands it starts. */
interface MonitoredClient {
  on(event: 'commandStarted', listener: (event: CommandStartedEvent) => void): unknown;
  off(event: 'commandStarted', listener: (event: CommandStartedEvent) => void): unknown;
}

/** The commands (not the handshakes and heartbeats) `client` started while `run` ran. */
async function sentDuring(
  client: MonitoredClient,
  run: () => Promise<unknown>,
): Promise<Document[]> {
  const sent: Document[] = [];
  const listener = (event: CommandStartedEvent) => sent.push(event.command);
  client.on('commandStarted', listener);
  try {
    await run();
  } finally {
    client.off('commandStarted', listener);
  }
  return sent;
}

/** Runs the store's kinds of commands through a gate with a deadline, each with `timeLimit`. */
async function commandsWithDeadline(collection: AnyCollection): Promise<void> {
  const gate = new ConnectionGate(async () => collection, {
    maxPending: 10,
    timeoutMs: DEADLINE_MS,
  });
  await gate.run('commands', async (sessions, deadline) => {
    await sessions.updateOne(
      { _id: 'deadline' },
      { $set: { n: 1 } },
      { upsert: true, ...timeLimit(deadline) },
    );
    await sessions.findOne({ _id: 'deadline' }, timeLimit(deadline));
    await sessions.countDocuments({}, timeLimit(deadline));
    await sessions.find({}, timeLimit(deadline)).toArray();
    await sessions.deleteMany({ _id: 'deadline' }, timeLimit(deadline));
  });
  await gate.close();
}

describe('the deadline of an operation on the server', () => {
  test('with driver 7 and driver 6, every command of an operation carries maxTimeMS, no more than the time left', async () => {
    const client6 = await new MongoClient6(database.uri, { monitorCommands: true }).connect();
    try {
      const drivers: Array<[string, MonitoredClient, AnyCollection]> = [
        ['7', database.client, database.db.collection('deadline_7')],
        ['6', client6, client6.db(database.databaseName).collection('deadline_6')],
      ];
      for (const [driver, client, collection] of drivers) {
        const sent = await sentDuring(client, () => commandsWithDeadline(collection));
        assert.deepEqual(
          sent.map((command) => Object.keys(command)[0]),
          ['update', 'find', 'aggregate', 'find', 'delete'],
          `driver ${driver}`,
        );
        for (const command of sent) {
          const { maxTimeMS } = command;
          assert.ok(
            typeof maxTimeMS === 'number' && maxTimeMS >= 1 && maxTimeMS <= DEADLINE_MS,
            `driver ${driver}: ${Object.keys(command)[0]} was sent with maxTimeMS ${String(maxTimeMS)}`,
          );
        }
      }
    } finally {
      await client6.close();
    }
  });

  test('without a deadline, commands carry no maxTimeMS', async () => {
    const gate = new ConnectionGate(async () => database.db.collection('no_deadline'), {
      maxPending: 10,
      timeoutMs: 0,
    });
    const sent = await sentDuring(database.client, () =>
      gate.run('get', async (sessions, deadline) => sessions.findOne({}, timeLimit(deadline))),
    );
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.maxTimeMS, undefined);
    await gate.close();
  });

  test('timeoutMS on a database or collection reaches no command with driver 7 or driver 6, so the deadline goes command by command', async () => {
    const client6 = await new MongoClient6(database.uri, { monitorCommands: true }).connect();
    try {
      const options = { timeoutMS: DEADLINE_MS };
      const drivers: Array<[string, MonitoredClient, AnyCollection]> = [
        [
          '7',
          database.client,
          database.client.db(database.databaseName, options).collection('csot_7', options),
        ],
        ['6', client6, client6.db(database.databaseName, options).collection('csot_6', options)],
      ];
      for (const [driver, client, collection] of drivers) {
        const sent = await sentDuring(client, async () => {
          await collection.findOne({});
          await collection.updateOne({ _id: 'csot' }, { $set: { n: 1 } }, { upsert: true });
        });
        for (const command of sent) {
          assert.equal(
            command.maxTimeMS,
            undefined,
            `driver ${driver}: ${Object.keys(command)[0]}`,
          );
        }
      }
    } finally {
      await client6.close();
    }
  });

  test('FerretDB stops a find and a count at their maxTimeMS, and carries an update through whatever its maxTimeMS', async (t) => {
    const backend = specBackend();
    if (backend !== 'sqlite' && backend !== 'postgresql') {
      t.skip(`FerretDB's own behaviour; this run's server is ${backend}`);
      return;
    }
    const collection = database.db.collection<{ _id: string; a: { b: number }; s: string }>(
      'max_time',
    );
    await collection.insertMany(
      Array.from({ length: 5_000 }, (_, i) => ({
        _id: `id-${i}`,
        a: { b: i },
        s: 'x'.repeat(200),
      })),
    );
    // A filter FerretDB 1.x evaluates document by document: far longer than 1 ms.
    const slow = { 'a.b': { $gte: 4_990 } };
    const stopped = (error: unknown) => (error as { code?: unknown }).code === MAX_TIME_MS_EXPIRED;
    await assert.rejects(collection.find(slow, { maxTimeMS: 1 }).toArray(), stopped);
    await assert.rejects(collection.countDocuments(slow, { maxTimeMS: 1 }), stopped);
    const updated = await collection.updateMany(slow, { $set: { n: 1 } }, { maxTimeMS: 1 });
    assert.equal(updated.modifiedCount, 10, 'the update ignored its maxTimeMS');
  });
});

describe('the store sends its deadline', () => {
  test('each command of get, set, touch, destroy, length, ids and destroyWhere carries maxTimeMS within operationTimeoutMs', async (t) => {
    const { SessionRepository } = await import('../lib/index.js');
    const { commandsDuring } = await import('./support/database.js');
    const repository = new SessionRepository({
      client: database.client,
      databaseName: database.databaseName,
      collection: 'store_sends_deadline',
      autoRemove: 'disabled',
      manageIndexes: false,
      touchAfterMs: 0,
      operationTimeoutMs: 4_000,
    });
    t.after(() => repository.close());
    await repository.ready();
    const cookie = { expires: new Date(Date.now() + 60 * 60 * 1000) };
    const sent = await commandsDuring(database.client, async () => {
      await repository.set('s1', { cookie, user: 'ann' });
      await repository.get('s1');
      await repository.touch('s1', {
        cookie: { expires: new Date(Date.now() + 2 * 60 * 60 * 1000) },
      });
      await repository.length();
      await repository.ids();
      await repository.destroyWhere({ user: 'ann' });
      await repository.destroy('s2');
    });
    const names = sent.map((event) => event.commandName);
    assert.deepEqual(
      [...new Set(names)].sort(),
      ['aggregate', 'delete', 'find', 'insert', 'update'],
      'every kind of command the operations send',
    );
    for (const { commandName, command } of sent) {
      const limit = command.maxTimeMS as unknown;
      assert.ok(
        typeof limit === 'number' && limit > 0 && limit <= 4_000,
        `${commandName} carries maxTimeMS within the deadline (${String(limit)})`,
      );
    }
  });
});
