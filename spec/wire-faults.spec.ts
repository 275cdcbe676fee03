/**
 * The wire-fault proxy itself: commands pass through to the real server unless a fault is
 * injected, and then the client sees the fault's reply as the server's answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import {
  type Collection,
  type CommandFailedEvent,
  type Document,
  Long,
  MongoClient,
  MongoServerError,
} from 'mongodb';
import { testUri, useSpecDatabase } from './support/database.js';
import {
  type CommandFault,
  type SeenCommand,
  startWireFaultProxy,
  type WireFaultProxy,
} from './support/wire-faults.js';

const database = useSpecDatabase(import.meta.url);

interface Item {
  _id: string;
  views?: number;
  text?: string;
}

const indexOptionsConflict = {
  ok: 0,
  code: 85,
  codeName: 'IndexOptionsConflict',
  errmsg: 'An equivalent index already exists with a different name and options',
};

/** Commands an operation sent, leaving out the driver's own handshakes and heartbeats. */
const MONITORING = new Set(['hello', 'isMaster', 'ismaster', 'saslStart', 'saslContinue']);
function sentSince(proxy: WireFaultProxy, mark: number): SeenCommand[] {
  return proxy.seen.slice(mark).filter(({ name }) => !MONITORING.has(name));
}

/** Asserts that `promise` rejects with a server error of `code`, and returns the error. */
async function rejectsWithCode(promise: Promise<unknown>, code: number): Promise<MongoServerError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(
    caught instanceof MongoServerError,
    `expected a MongoServerError, got ${caught instanceof Error ? caught.name : String(caught)}`,
  );
  assert.equal(caught.code, code);
  return caught;
}

describe('wire-fault proxy', () => {
  let proxy: WireFaultProxy;
  let client: MongoClient;
  const failed: CommandFailedEvent[] = [];
  let collectionCount = 0;
  const freshCollection = (): Collection<Item> => {
    collectionCount += 1;
    return client.db(database.databaseName).collection<Item>(`wire_${collectionCount}`);
  };

  /** Injects `fault` until the end of test `t` at the latest, so that a failed test leaves none armed. */
  const inject = (t: TestContext, fault: CommandFault) => {
    const remove = proxy.inject(fault);
    t.after(remove);
    return remove;
  };

  before(async () => {
    proxy = await startWireFaultProxy(testUri());
    client = new MongoClient(proxy.uri, {
      monitorCommands: true,
      retryReads: false,
      retryWrites: false,
      serverSelectionTimeoutMS: 5_000,
    });
    client.on('commandFailed', (event: CommandFailedEvent) => failed.push(event));
    await client.connect();
  });

  after(async () => {
    await client?.close();
    await proxy?.close();
  });

  test('the proxy listens on loopback and keeps a direct connection', () => {
    const uri = new URL(proxy.uri.replace(/^mongodb:/, 'http:'));
    assert.equal(uri.hostname, '127.0.0.1');
    assert.equal(Number(uri.port), proxy.port);
    assert.equal(uri.searchParams.get('directConnection'), 'true');
  });

  test('the proxied connection string keeps the credentials, path and options of the target', async () => {
    const other = await startWireFaultProxy(
      'mongodb://user:p%40ss@db.example:27018,db2.example/sessions?authSource=admin&replicaSet=rs0',
    );
    try {
      assert.equal(
        other.uri,
        `mongodb://user:p%40ss@127.0.0.1:${other.port}/sessions?authSource=admin&directConnection=true`,
      );
    } finally {
      await other.close();
    }
  });

  test('ordinary commands pass through to the server', async () => {
    const collection = freshCollection();
    const mark = proxy.seen.length;
    await collection.insertOne({ _id: 'a', views: 1 });
    assert.deepEqual(await collection.findOne({ _id: 'a' }), { _id: 'a', views: 1 });
    assert.deepEqual(
      sentSince(proxy, mark).map(({ name, answeredBy }) => [name, answeredBy]),
      [
        ['insert', 'server'],
        ['find', 'server'],
      ],
    );
    // The server really has it: read without the proxy.
    const direct = database.db.collection<Item>(collection.collectionName);
    assert.equal((await direct.findOne({ _id: 'a' }))?.views, 1);
  });

  test('messages larger than one TCP chunk are reassembled', async () => {
    const collection = freshCollection();
    const text = 'x'.repeat(4 * 1024 * 1024);
    await collection.insertOne({ _id: 'big', text });
    assert.equal((await collection.findOne({ _id: 'big' }))?.text?.length, text.length);
  });

  test('concurrent operations on several connections each get their own answer', async (t) => {
    const collection = freshCollection();
    const ids = Array.from({ length: 24 }, (_, index) => `c${index}`);
    await collection.insertMany(ids.map((_id, views) => ({ _id, views })));
    inject(t, {
      command: 'find',
      when: (body) => Number(body.filter?._id?.slice(1)) % 2 === 1,
      reply: (body) => ({
        ok: 1,
        cursor: {
          id: Long.ZERO,
          ns: `${body.$db}.${body.find}`,
          firstBatch: [{ _id: body.filter._id, views: -1 }],
        },
      }),
    });
    const found = await Promise.all(ids.map((_id) => collection.findOne({ _id })));
    assert.deepEqual(
      found,
      ids.map((_id, views) => ({ _id, views: views % 2 === 1 ? -1 : views })),
    );
  });

  test('a createIndexes fault rejects exactly `times` times, then the server answers', async (t) => {
    const collection = freshCollection();
    const remove = inject(t, {
      command: 'createIndexes',
      reply: indexOptionsConflict,
      times: 2,
    });
    const failedBefore = failed.length;
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const error = await rejectsWithCode(collection.createIndex({ expires: 1 }), 85);
      assert.equal(error.codeName, 'IndexOptionsConflict');
      assert.equal(error.errmsg, indexOptionsConflict.errmsg);
    }
    assert.equal(await collection.createIndex({ expires: 1 }), 'expires_1');
    remove(); // spent already: a no-op
    const names = (await database.db.collection<Item>(collection.collectionName).indexes()).map(
      (index) => index.name,
    );
    assert.ok(names.includes('expires_1'), `the server has the index: ${names.join(', ')}`);
    // The driver's command monitoring saw the faults as server failures.
    assert.deepEqual(
      failed
        .slice(failedBefore)
        .map((event) => [event.commandName, (event.failure as Document).code]),
      [
        ['createIndexes', 85],
        ['createIndexes', 85],
      ],
    );
  });

  test('a fault without `times` answers until it is removed', async (t) => {
    const collection = freshCollection();
    const remove = inject(t, {
      command: 'createIndexes',
      reply: { ok: 0, code: 13, codeName: 'Unauthorized', errmsg: 'not authorized' },
    });
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      await rejectsWithCode(collection.createIndex({ a: 1 }), 13);
    }
    remove();
    assert.equal(await collection.createIndex({ a: 1 }), 'a_1');
  });

  test('a transient failure once, then success', async (t) => {
    for (const [code, codeName] of [
      [91, 'ShutdownInProgress'],
      [189, 'PrimarySteppedDown'],
    ] as const) {
      const collection = freshCollection();
      inject(t, {
        command: 'createIndexes',
        reply: { ok: 0, code, codeName, errmsg: codeName },
        times: 1,
      });
      await rejectsWithCode(collection.createIndex({ b: 1 }), code);
      // The driver may drop its connections after such an error; the proxy serves new ones.
      assert.equal(await collection.createIndex({ b: 1 }), 'b_1');
    }
  });

  test('seen records each command, its body and who answered it', async (t) => {
    const collection = freshCollection();
    await collection.insertOne({ _id: 'real' });
    inject(t, {
      command: 'find',
      times: 1,
      reply: (body) => ({
        ok: 1,
        cursor: {
          id: Long.ZERO,
          ns: `${body.$db}.${body.find}`,
          firstBatch: [{ _id: 'invented' }],
        },
      }),
    });
    const mark = proxy.seen.length;
    assert.deepEqual(await collection.find().toArray(), [{ _id: 'invented' }]);
    assert.deepEqual(await collection.find().toArray(), [{ _id: 'real' }]);
    const sent = sentSince(proxy, mark);
    assert.deepEqual(
      sent.map(({ name, answeredBy }) => [name, answeredBy]),
      [
        ['find', 'fault'],
        ['find', 'server'],
      ],
    );
    for (const { body } of sent) {
      assert.equal(body.find, collection.collectionName);
      assert.equal(body.$db, database.databaseName);
    }
  });

  test('`when` limits a fault to the commands it accepts', async (t) => {
    const collection = freshCollection();
    inject(t, {
      command: 'createIndexes',
      when: (body) => body.indexes?.[0]?.unique === true,
      // The reply quotes the command it answers.
      reply: (body) => ({
        ...indexOptionsConflict,
        errmsg: `Index already exists with a different name: ${body.indexes[0].name}`,
      }),
      times: 1,
    });
    const mark = proxy.seen.length;
    assert.equal(await collection.createIndex({ plain: 1 }), 'plain_1');
    const error = await rejectsWithCode(collection.createIndex({ key: 1 }, { unique: true }), 85);
    assert.equal(error.errmsg, 'Index already exists with a different name: key_1');
    assert.equal(await collection.createIndex({ key: 1 }, { unique: true }), 'key_1');
    assert.deepEqual(
      sentSince(proxy, mark).map(({ answeredBy }) => answeredBy),
      ['server', 'fault', 'server'],
    );
  });

  test('a fault matches a delete whose statements come as a document sequence', async (t) => {
    const collection = freshCollection();
    await collection.insertMany([{ _id: 'd1' }, { _id: 'd2' }]);
    inject(t, {
      command: 'delete',
      when: (body) => body.deletes?.[0]?.q?._id === 'd1',
      reply: { ok: 0, code: 13, codeName: 'Unauthorized', errmsg: 'not authorized on delete' },
      times: 1,
    });
    const mark = proxy.seen.length;
    // A bulk write sends its statements as an OP_MSG document sequence.
    await rejectsWithCode(collection.bulkWrite([{ deleteOne: { filter: { _id: 'd1' } } }]), 13);
    // Not matched by `when`: forwarded.
    await collection.bulkWrite([{ deleteOne: { filter: { _id: 'd2' } } }]);
    // Spent: forwarded.
    await collection.bulkWrite([{ deleteOne: { filter: { _id: 'd1' } } }]);
    const sent = sentSince(proxy, mark);
    assert.deepEqual(
      sent.map(({ name, answeredBy, documentSequences }) => [name, answeredBy, documentSequences]),
      [
        ['delete', 'fault', ['deletes']],
        ['delete', 'server', ['deletes']],
        ['delete', 'server', ['deletes']],
      ],
    );
    assert.deepEqual(sent[0]?.body.deletes, [{ q: { _id: 'd1' }, limit: 1 }]);
    const left = await database.db.collection<Item>(collection.collectionName).countDocuments();
    assert.equal(left, 0);
  });
});
