/**
 * Expiry on every backend: index management, `autoRemove` and its sweep, the Cosmos DB `_ts`
 * mode and lazy touch. The store talks to the real test server; where a spec needs an answer
 * that server never gives (MongoDB's index conflicts, Cosmos DB accepting a TTL index on `_ts`,
 * a primary stepping down), a wire-protocol proxy gives it, and the driver's command monitoring
 * shows exactly what the store sent.
 */
import assert from 'node:assert/strict';
import { after, describe, type TestContext, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type CommandStartedEvent, type Document, MongoClient } from 'mongodb';
import type { SessionLike } from '../lib/codec/session-types.js';
import { IndexError, StoreClosedError } from '../lib/errors/classes.js';
import { TTL_FALLBACK_WARNING_CODE } from '../lib/expiry/expiry-tasks.js';
import { MongoDBStore, type SessionRepositoryOptions } from '../lib/index.js';
import type { RepositoryListeners } from '../lib/repository/repository-types.js';
import { SessionRepository } from '../lib/repository/session-repository.js';
import { useSpecDatabase } from './support/database.js';
import {
  type CommandFault,
  startWireFaultProxy,
  type WireFaultProxy,
} from './support/wire-faults.js';

interface Visit extends SessionLike {
  views?: number;
}

const HOUR = 60 * 60 * 1000;
const inAnHour = () => new Date(Date.now() + HOUR);
const database = useSpecDatabase(import.meta.url);

// Every TTL-unsupported warning of this file's process: the store says so once per process.
const fallbackWarnings: Error[] = [];
const onWarning = (warning: Error & { code?: string }) => {
  if (warning.code === TTL_FALLBACK_WARNING_CODE) fallbackWarnings.push(warning);
};
process.on('warning', onWarning);
after(() => process.off('warning', onWarning));

/** MongoDB's answers, which the test server (FerretDB 1.x) never gives. */
const ANSWERS = {
  created: { ok: 1, numIndexesBefore: 1, numIndexesAfter: 2 },
  ok: { ok: 1 },
  notImplemented: { ok: 0, code: 238, codeName: 'NotImplemented', errmsg: 'not implemented' },
  optionsConflict: {
    ok: 0,
    code: 85,
    codeName: 'IndexOptionsConflict',
    errmsg: 'An equivalent index already exists with the same name but different options',
  },
  keySpecsConflict: {
    ok: 0,
    code: 86,
    codeName: 'IndexKeySpecsConflict',
    errmsg: 'An existing index has the same name as the requested index',
  },
  unauthorized: {
    ok: 0,
    code: 13,
    codeName: 'Unauthorized',
    errmsg: 'not authorized on sessions to execute command { collMod: "secret-session-id" }',
  },
  duplicateKey: {
    ok: 0,
    code: 11000,
    codeName: 'DuplicateKey',
    errmsg:
      'E11000 duplicate key error collection: db.sessions index: sid_1 dup key: { sid: "secret-session-id" }',
  },
  shuttingDown: {
    ok: 0,
    code: 91,
    codeName: 'ShutdownInProgress',
    errmsg: 'The server is in quiesce mode and will shut down',
  },
} as const;

/** A fault on the `createIndexes` of the TTL index (the one with `expireAfterSeconds`). */
function onTtlIndex(reply: Document, times?: number): CommandFault {
  return {
    command: 'createIndexes',
    when: (body) => (body.indexes as Document[])[0]?.expireAfterSeconds !== undefined,
    reply,
    ...(times === undefined ? {} : { times }),
  };
}

/** A fault on the `createIndexes` of the unique index. */
function onUniqueIndex(reply: Document, times?: number): CommandFault {
  return {
    command: 'createIndexes',
    when: (body) => (body.indexes as Document[])[0]?.unique === true,
    reply,
    ...(times === undefined ? {} : { times }),
  };
}

let collectionCount = 0;

interface Proxied {
  readonly repository: SessionRepository<Visit>;
  readonly proxy: WireFaultProxy;
  readonly client: MongoClient;
  readonly reported: IndexError[];
  readonly raw: ReturnType<typeof database.db.collection<Document>>;
  /** Names of the commands the repository's client sent, from the driver's command monitoring. */
  readonly commands: string[];
  /** The bodies of the commands sent, by name. */
  sent(name: string): Document[];
}

/**
 * A repository on a collection of its own, talking to the test server through a wire-fault
 * proxy with `faults` armed before it connects; closed (with proxy and client) when the test ends.
 */
async function proxied(
  t: TestContext,
  options: SessionRepositoryOptions = {},
  faults: CommandFault[] = [],
  listeners: RepositoryListeners = {},
): Promise<Proxied> {
  const proxy = await startWireFaultProxy(database.uri);
  for (const fault of faults) proxy.inject(fault);
  const client = new MongoClient(proxy.uri, { monitorCommands: true });
  const commands: string[] = [];
  const bodies: CommandStartedEvent[] = [];
  client.on('commandStarted', (event: CommandStartedEvent) => {
    commands.push(event.commandName);
    bodies.push(event);
  });
  collectionCount += 1;
  const collection = `expiry_${collectionCount}`;
  const reported: IndexError[] = [];
  const repository = new SessionRepository<Visit>(
    { client, databaseName: database.databaseName, collection, ...options },
    {
      ...listeners,
      indexFailed: (error) => {
        reported.push(error);
        listeners.indexFailed?.(error);
      },
    },
  );
  t.after(async () => {
    await repository.close();
    await client.close();
    await proxy.close();
  });
  return {
    repository,
    proxy,
    client,
    reported,
    raw: database.db.collection<Document>(collection),
    commands,
    sent: (name) =>
      bodies.filter((event) => event.commandName === name).map((event) => event.command),
  };
}

describe('index management', () => {
  // First in the file: the warning is once per process.
  test('a server without TTL indexes (FerretDB 1.x) makes native fall back to interval, and the store says so once', async (t) => {
    const first = await proxied(t, {}, [onTtlIndex(ANSWERS.notImplemented)]);
    const second = await proxied(t, {}, [onTtlIndex(ANSWERS.notImplemented)]);
    assert.equal(
      first.repository.autoRemoveInEffect,
      'native',
      'native until the server says otherwise',
    );
    for (const { repository, reported } of [first, second]) {
      const status = await repository.whenIndexed();
      assert.equal(status.ttl, 'unsupported');
      assert.equal(repository.autoRemoveInEffect, 'interval');
      assert.deepEqual(reported, [], 'a missing feature is not an error');
    }
    await delay(10);
    assert.equal(fallbackWarnings.length, 1, 'one warning for the process');
    assert.match(fallbackWarnings[0]?.message ?? '', /falls back to 'interval'/);
  });

  test('restarting with another expiresAfterSeconds changes the TTL index in place (collMod)', async (t) => {
    const { repository, reported, sent } = await proxied(t, { expiresAfterSeconds: 3600 }, [
      onTtlIndex(ANSWERS.optionsConflict),
      { command: 'collMod', reply: ANSWERS.ok },
    ]);
    const status = await repository.whenIndexed();
    assert.equal(status.ttl, 'ensured');
    assert.equal(repository.autoRemoveInEffect, 'native');
    assert.deepEqual(reported, []);
    const [collMod] = sent('collMod');
    assert.equal(collMod?.collMod, repository.options.collectionName);
    assert.deepEqual(collMod?.index, { keyPattern: { expires: 1 }, expireAfterSeconds: 3600 });
    await repository.set('s1', { cookie: { expires: inAnHour() } });
    assert.notEqual(await repository.get('s1'), null);
  });

  test('restarting on the same collection with another expires and expiresAfterSeconds starts cleanly on the test server', async (t) => {
    const collection = `restart_${Date.now()}`;
    const settings: SessionRepositoryOptions[] = [
      { expires: HOUR, expiresAfterSeconds: 0, idField: 'sid' },
      { expires: 2 * HOUR, expiresAfterSeconds: 60, idField: 'sid' },
      { expires: 3 * HOUR, expiresAfterSeconds: 3_600, idField: 'sid' },
    ];
    for (const [round, options] of settings.entries()) {
      const reported: IndexError[] = [];
      const repository = new SessionRepository<Visit>(
        { client: database.client, databaseName: database.databaseName, collection, ...options },
        { indexFailed: (error) => reported.push(error) },
      );
      t.after(() => repository.close());
      const status = await repository.whenIndexed();
      assert.deepEqual(reported, [], `round ${round}: nothing to report`);
      assert.equal(status.unique, 'ensured');
      assert.notEqual(status.ttl, 'failed');
      await repository.set(`s${round}`, { cookie: {}, views: round });
      assert.equal((await repository.get(`s${round}`))?.views, round);
      await repository.close();
    }
  });

  test('a TTL index the store may not change is reported once, saying what to do, and reads and writes go on', async (t) => {
    const { repository, reported, sent } = await proxied(t, {}, [
      onTtlIndex(ANSWERS.optionsConflict),
      { command: 'collMod', reply: ANSWERS.unauthorized },
    ]);
    const status = await repository.whenIndexed();
    assert.equal(status.ttl, 'failed');
    assert.equal(reported.length, 1);
    const [error] = reported;
    assert.ok(error instanceof IndexError, 'an IndexError');
    assert.equal(status.errors[0], error);
    assert.equal(error.index, 'ttl');
    assert.match(error.message, /dropIndex\(\{ expires: 1 \}\)/);
    assert.match(error.message, /manageIndexes: false/);
    assert.doesNotMatch(error.message, /secret|not authorized/, 'no driver text');
    assert.equal(repository.autoRemoveInEffect, 'native', 'an index exists, with other options');
    await repository.set('s1', { cookie: { expires: inAnHour() }, views: 1 });
    assert.equal((await repository.get('s1'))?.views, 1);
    await delay(1_500);
    assert.equal(sent('createIndexes').length, 1, 'a permanent failure is not retried');
    assert.equal(reported.length, 1, 'nor reported again');
  });

  test('the TTL and unique indexes are handled apart: a refused TTL index leaves the unique one to be created', async (t) => {
    const { repository, reported, raw } = await proxied(t, { idField: 'sid' }, [
      onTtlIndex(ANSWERS.unauthorized),
    ]);
    const status = await repository.whenIndexed();
    assert.equal(status.ttl, 'failed');
    assert.equal(status.unique, 'ensured');
    const unique = (await raw.listIndexes().toArray()).find((index) => index.key?.sid === 1);
    assert.equal(unique?.unique, true, 'the unique index exists on the server');
    assert.match(reported[0]?.message ?? '', /may not create indexes/);
    assert.equal(repository.autoRemoveInEffect, 'interval', 'without a TTL index the store sweeps');
    assert.match(reported[0]?.message ?? '', /autoRemove` is now `interval`/);
  });

  test("a TTL index refused as Azure Cosmos DB refuses one not on _ts (2, BadValue) says to set expiresKey: '_ts', and the store sweeps", async (t) => {
    const { repository, reported } = await proxied(t, {}, [
      onTtlIndex({
        ok: 0,
        code: 2,
        codeName: 'BadValue',
        errmsg: "The 'expireAfterSeconds' option is supported on '_ts' field only.",
      }),
    ]);
    const status = await repository.whenIndexed();
    assert.equal(status.ttl, 'failed');
    assert.match(reported[0]?.message ?? '', /set `expiresKey: '_ts'`/);
    assert.equal(repository.autoRemoveInEffect, 'interval');
  });

  test('saves racing at start-up with a custom idField store one document: writes wait for the first try at the unique index', async (t) => {
    const { repository, raw } = await proxied(t, { idField: 'sid' });
    const expires = inAnHour();
    await Promise.all(
      Array.from({ length: 10 }, (_, views) =>
        repository.set('raced', { cookie: { expires }, views }),
      ),
    );
    assert.equal(await raw.countDocuments({ sid: 'raced' }), 1);
    assert.equal(repository.indexes.unique, 'ensured');
  });

  test('a unique index in conflict with another (86) is reported with what to drop', async (t) => {
    const { repository, reported } = await proxied(t, { idField: 'sid' }, [
      onUniqueIndex(ANSWERS.keySpecsConflict),
    ]);
    const status = await repository.whenIndexed();
    assert.equal(status.unique, 'failed');
    assert.equal(reported[0]?.index, 'unique');
    assert.match(reported[0]?.message ?? '', /dropIndex\('sid_1'\)/);
  });

  test("a duplicate-key failure names no session id (MongoDB's E11000 text quotes it)", async (t) => {
    const { repository, reported } = await proxied(t, { idField: 'sid' }, [
      onUniqueIndex(ANSWERS.duplicateKey),
    ]);
    await repository.whenIndexed();
    const [error] = reported;
    assert.ok(error instanceof IndexError, 'reported');
    assert.match(error.message, /remove the duplicates/);
    assert.match(error.message, /code 11000/);
    assert.doesNotMatch(error.message, /secret-session-id|E11000/);
  });

  test('a transient failure is retried with backoff until the index exists, and is not reported', async (t) => {
    const started = Date.now();
    const { repository, reported, sent } = await proxied(t, { idField: 'sid' }, [
      onUniqueIndex(ANSWERS.shuttingDown, 2),
    ]);
    await repository.ready();
    assert.equal(repository.indexes.unique, 'pending');
    // Reads and writes do not wait for the index.
    await repository.set('s1', { cookie: { expires: inAnHour() } });
    const status = await repository.whenIndexed();
    assert.equal(status.unique, 'ensured');
    const uniqueAttempts = sent('createIndexes').filter(
      (body) => (body.indexes as Document[])[0]?.unique === true,
    );
    assert.equal(uniqueAttempts.length, 3);
    assert.ok(Date.now() - started >= 2_500, 'waited 1 s, then 2 s, between attempts');
    assert.deepEqual(reported, []);
  });

  test('manageIndexes: false sends no createIndexes, and the store works', async (t) => {
    const { repository, sent } = await proxied(t, { idField: 'sid', manageIndexes: false });
    await repository.set('s1', { cookie: { expires: inAnHour() }, views: 2 });
    assert.equal((await repository.get('s1'))?.views, 2);
    assert.deepEqual(await repository.whenIndexed(), {
      ttl: 'disabled',
      unique: 'disabled',
      errors: [],
    });
    assert.equal(repository.autoRemoveInEffect, 'native', 'your own TTL index does the deleting');
    assert.deepEqual(sent('createIndexes'), []);
  });

  test("autoRemove 'interval' and 'disabled' create no TTL index; the store shows the mode in effect", async (t) => {
    for (const autoRemove of ['interval', 'disabled'] as const) {
      const { repository, sent } = await proxied(t, { autoRemove });
      assert.equal((await repository.whenIndexed()).ttl, 'disabled');
      assert.deepEqual(sent('createIndexes'), []);
      assert.equal(repository.autoRemoveInEffect, autoRemove);
    }
    const store = new MongoDBStore({
      client: database.client,
      databaseName: database.databaseName,
      collection: 'store_mode',
      autoRemove: 'disabled',
    });
    t.after(() => store.close());
    assert.equal(store.autoRemoveInEffect, 'disabled');
    assert.equal(store.autoRemove, 'disabled', 'the deprecated name still answers');
    assert.equal(store.repository.autoRemove, 'disabled', 'the deprecated name still answers');
  });

  test('the store emits one `error` event for an index that failed, and keeps serving', async (t) => {
    const proxy = await startWireFaultProxy(database.uri);
    proxy.inject(onUniqueIndex(ANSWERS.duplicateKey));
    const store = new MongoDBStore({
      uri: proxy.uri,
      databaseName: database.databaseName,
      collection: 'store_index_error',
      idField: 'sid',
    });
    t.after(async () => {
      await store.close();
      await proxy.close();
    });
    const errors: Error[] = [];
    store.on('error', (error: Error) => errors.push(error));
    await store.repository.whenIndexed();
    await delay(10);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof IndexError, 'an IndexError');
    await store.set('s1', { cookie: { originalMaxAge: HOUR, expires: inAnHour() } } as never);
    assert.notEqual(await store.get('s1'), null);
  });
});

describe('sweeping expired sessions', () => {
  test('by default, on a server without TTL indexes, an expired session is never read and is gone within one interval', async (t) => {
    const intervalMs = 300;
    const { repository, raw } = await proxied(t, { autoRemoveIntervalMs: intervalMs }, [
      onTtlIndex(ANSWERS.notImplemented),
    ]);
    await repository.whenIndexed();
    await repository.set('brief', { cookie: { expires: new Date(Date.now() + 150) } });
    await repository.set('lasting', { cookie: { expires: inAnHour() } });
    await delay(200);
    assert.equal(await repository.get('brief'), null, 'expired: never read');
    const expiredAt = Date.now();
    while ((await raw.countDocuments({ _id: 'brief' as never })) > 0) {
      assert.ok(Date.now() - expiredAt < intervalMs + 1_000, 'swept within one interval');
      await delay(20);
    }
    assert.equal(await raw.countDocuments({}), 1, 'the unexpired session stays');
  });

  test('timed sweeps never overlap, a sweep asked for during one runs after it, and close() stops them', async (t) => {
    const { repository, raw, commands } = await proxied(t, {
      autoRemove: 'interval',
      autoRemoveIntervalMs: 5,
    });
    await repository.whenIndexed();
    const past = new Date(Date.now() - 1_000);
    await raw.insertMany(
      Array.from({ length: 3_000 }, (_, i) => ({
        _id: `old${i}` as never,
        session: {},
        expires: past,
      })),
    );
    commands.length = 0;
    // Asked for twice at once, beside the timer: all three take turns.
    await Promise.all([repository.deleteExpired(), repository.deleteExpired()]);
    assert.equal(await raw.countDocuments({}), 0);
    await delay(100);
    await repository.close();
    const atClose = commands.length;
    const sweepCommands = commands.filter((name) => name === 'find' || name === 'delete');
    // A timed sweep may have been between its two steps when counting began.
    if (sweepCommands[0] === 'delete') sweepCommands.shift();
    assert.ok(sweepCommands.length >= 6, 'several sweeps ran');
    sweepCommands.forEach((name, index) => {
      assert.equal(name, index % 2 === 0 ? 'find' : 'delete', `sweep step ${index} in order`);
    });
    await delay(100);
    assert.equal(commands.length, atClose, 'nothing is sent after close');
  });

  test('a failing timed sweep is reported once until one succeeds again', async (t) => {
    const failures: unknown[] = [];
    const { repository, proxy } = await proxied(
      t,
      { autoRemove: 'interval', autoRemoveIntervalMs: 20 },
      [],
      { sweepFailed: (error) => failures.push(error) },
    );
    await repository.whenIndexed();
    const remove = proxy.inject({
      command: 'delete',
      reply: { ok: 0, code: 2, codeName: 'BadValue', errmsg: 'refused' },
    });
    await delay(300);
    assert.equal(failures.length, 1, 'once, however many sweeps failed');
    remove();
    await delay(600);
    proxy.inject({
      command: 'delete',
      reply: { ok: 0, code: 2, codeName: 'BadValue', errmsg: 'refused' },
    });
    await delay(300);
    assert.equal(failures.length, 2, 'again after a sweep succeeded');
  });
});

describe("Azure Cosmos DB mode (expiresKey: '_ts')", () => {
  test('the TTL index goes on _ts with the given seconds, the store never writes _ts, and reads check its own date', async (t) => {
    const expiresMs = 2 * HOUR;
    const { repository, raw, sent } = await proxied(
      t,
      { expiresKey: '_ts', expires: expiresMs, expiresAfterSeconds: expiresMs / 1000 },
      [onTtlIndex(ANSWERS.created)],
    );
    assert.equal((await repository.whenIndexed()).ttl, 'ensured');
    const [index] = (sent('createIndexes')[0]?.indexes ?? []) as Document[];
    // The driver sends the key as a Map, to keep its order.
    assert.deepEqual(Object.fromEntries(index?.key ?? []), { _ts: 1 });
    assert.equal(index?.expireAfterSeconds, 7200);

    await repository.set('s1', { cookie: { expires: inAnHour() }, views: 1 });
    await repository.touch('s1', { cookie: { expires: new Date(Date.now() + 2 * HOUR) } });
    assert.equal((await repository.get('s1'))?.views, 1);

    const writes = sent('update').flatMap((body) => body.updates as Document[]);
    assert.equal(writes.length, 2);
    for (const write of writes) {
      assert.ok(!JSON.stringify(write).includes('_ts'), 'no write names _ts');
      assert.ok(write.u?.$set?.expires instanceof Date, "the store's own date is written");
    }
    const [read] = sent('find');
    assert.deepEqual(read?.filter, { _id: 's1' }, 'reads find by id alone');
    assert.deepEqual(
      read?.projection,
      { _id: 0, session: 1, expires: 1, endedAt: 1, createdAt: 1 },
      'and check expires (and whether the session has ended)',
    );
    const stored = await raw.findOne({ _id: 's1' as never });
    assert.ok(stored !== null && !('_ts' in stored), 'the document holds no _ts of the store');
  });

  test("expiresAfterSeconds 0 (never right on Cosmos DB) means the session's lifetime", async (t) => {
    const { repository, sent } = await proxied(t, { expiresKey: '_ts', expires: 90_500 }, [
      onTtlIndex(ANSWERS.created),
    ]);
    await repository.whenIndexed();
    const [index] = (sent('createIndexes')[0]?.indexes ?? []) as Document[];
    assert.equal(index?.expireAfterSeconds, 91);
  });

  test("a session version 5 wrote (no date of the store's) is read, and left to Cosmos DB's TTL; an expired one is not", async (t) => {
    const { repository, raw } = await proxied(t, { expiresKey: '_ts' }, [
      onTtlIndex(ANSWERS.created),
    ]);
    await repository.whenIndexed();
    await raw.insertOne({ _id: 'from-v5' as never, session: { views: 5 } });
    await raw.insertOne({
      _id: 'expired' as never,
      session: { views: 6 },
      expires: new Date(Date.now() - 1_000),
    });
    assert.deepEqual(await repository.get('from-v5'), { views: 5 });
    assert.equal(await repository.get('expired'), null);
  });

  test("version 5's recipe runs end to end on the test server, through express-session", async (t) => {
    const { default: express } = await import('express');
    const { default: session } = await import('express-session');
    const { default: connectMongoDBSession } = await import('../lib/index.js');
    const { HttpClient, listen } = await import('./support/http.js');
    const Store = connectMongoDBSession(session);
    const expires = 1000 * 60 * 60 * 24 * 14;
    const store = new Store({
      uri: database.uri,
      databaseName: database.databaseName,
      collection: 'cosmos_recipe',
      expiresKey: '_ts',
      expiresAfterSeconds: expires / 1000,
      expires,
    });
    const app = express();
    app.use(session({ store, secret: 'spec secret', resave: false, saveUninitialized: false }));
    app.get('/count', (req, res) => {
      const data = req.session as unknown as { views?: number };
      data.views = (data.views ?? 0) + 1;
      res.json({ views: data.views });
    });
    const server = await listen(app);
    t.after(async () => {
      await server.close();
      await store.close();
    });
    const browser = new HttpClient(server.url);
    await browser.get('/count');
    const second = await browser.get('/count');
    assert.equal(JSON.parse(second.body).views, 2);
    const [stored] = await database.db.collection('cosmos_recipe').find({}).toArray();
    assert.ok(stored !== undefined && !('_ts' in stored), 'the store wrote no _ts');
    assert.ok(stored.expires instanceof Date);
  });

  test("idField 'expires' is refused in the Cosmos DB mode, where that field holds the store's date", () => {
    assert.throws(
      () => new SessionRepository({ expiresKey: '_ts', idField: 'expires' }),
      (error: unknown) => error instanceof TypeError && /Cosmos DB/.test(error.message),
    );
  });
});

describe('lazy touch (touchAfterMs)', () => {
  const later = (ms: number) => ({ cookie: { expires: new Date(Date.now() + ms) } });

  test('touches within the window after a get send nothing; the first after it sends exactly one update', async (t) => {
    const windowMs = 1_000;
    const { repository, commands, raw } = await proxied(t, { touchAfterMs: windowMs });
    await repository.whenIndexed();
    await repository.set('s1', later(HOUR));
    const written = (await raw.findOne({ _id: 's1' as never }))?.expires as Date;
    commands.length = 0;
    assert.notEqual(await repository.get('s1'), null);
    for (let touch = 0; touch < 10; touch += 1) await repository.touch('s1', later(HOUR));
    assert.deepEqual(commands, ['find'], 'the get, and no write');
    await delay(windowMs + 20);
    commands.length = 0;
    await repository.touch('s1', later(HOUR));
    assert.deepEqual(commands, ['update']);
    const moved = (await raw.findOne({ _id: 's1' as never }))?.expires as Date;
    assert.ok(moved.getTime() - written.getTime() >= windowMs, 'the expiry moved on');
  });

  test('many requests of one visitor at once, past the window, write the expiry once', async (t) => {
    const windowMs = 500;
    const { repository, commands } = await proxied(t, { touchAfterMs: windowMs });
    await repository.whenIndexed();
    await repository.set('s1', later(HOUR));
    await delay(windowMs + 20);
    commands.length = 0;
    // express-session's order for each request: get, then touch; 20 requests overlapping.
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        assert.notEqual(await repository.get('s1'), null, 'the session is read');
        await repository.touch('s1', later(HOUR));
      }),
    );
    assert.equal(commands.filter((name) => name === 'find').length, 20);
    assert.deepEqual(
      commands.filter((name) => name !== 'find'),
      ['update'],
      'one write, not one a request',
    );
  });

  test("the window is at most a tenth of the session's lifetime", async (t) => {
    const { repository, commands } = await proxied(t, { touchAfterMs: HOUR });
    await repository.whenIndexed();
    await repository.set('short', later(20_000));
    commands.length = 0;
    await repository.touch('short', later(20_000));
    assert.deepEqual(commands, [], 'within 2 s: nothing');
    await delay(2_100);
    await repository.touch('short', later(20_000));
    assert.deepEqual(commands, ['update'], 'past a tenth of 20 s, though far within an hour');
  });

  test('a touch whose cookie has already expired ends the session, inside the window too', async (t) => {
    const { repository, raw, commands } = await proxied(t);
    await repository.whenIndexed();
    await repository.set('s1', later(HOUR));
    commands.length = 0;
    await repository.touch('s1', { cookie: { expires: new Date(Date.now() - 1_000) } });
    assert.deepEqual(commands, ['update']);
    assert.equal(await raw.countDocuments({ session: { $ne: null } }), 0);
    assert.equal(await repository.get('s1'), null);
  });

  test('touchAfterMs: 0 writes on every touch', async (t) => {
    const { repository, commands } = await proxied(t, { touchAfterMs: 0 });
    await repository.whenIndexed();
    await repository.set('s1', later(HOUR));
    commands.length = 0;
    await repository.touch('s1', later(HOUR));
    await repository.touch('s1', later(HOUR));
    assert.deepEqual(commands, ['update', 'update']);
  });

  test('a touch inside the window on a closed repository still rejects with StoreClosedError', async (t) => {
    const { repository } = await proxied(t);
    await repository.set('s1', later(HOUR));
    await repository.close();
    await assert.rejects(repository.touch('s1', later(HOUR)), StoreClosedError);
  });

  test('a touch of a destroyed session is sent (and brings nothing back), whatever was remembered', async (t) => {
    const { repository, commands, raw } = await proxied(t);
    await repository.whenIndexed();
    await repository.set('s1', later(HOUR));
    await repository.destroy('s1');
    commands.length = 0;
    await repository.touch('s1', later(HOUR));
    assert.deepEqual(commands, ['update', 'find'], 'the touch, then whether it had ended');
    assert.equal(await raw.countDocuments({ session: { $ne: null } }), 0);
  });
});
