import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import type { Document } from 'mongodb';
import type { SessionLike } from '../lib/codec/session-types.js';
import {
  IndexError,
  InvalidSessionError,
  InvalidSessionIdError,
  StoreClosedError,
} from '../lib/errors/classes.js';
import type { RepositoryListeners } from '../lib/repository/repository-types.js';
import { SessionRepository } from '../lib/repository/session-repository.js';
import { useSpecDatabase } from './support/database.js';

interface Visit extends SessionLike {
  cookie?: { expires?: Date | string | null; originalMaxAge?: number | null; path?: string };
  views?: number;
  user?: string;
}

const HOUR = 60 * 60 * 1000;
const inAnHour = () => new Date(Date.now() + HOUR);
const anHourAgo = () => new Date(Date.now() - HOUR);

const database = useSpecDatabase(import.meta.url);
let collectionCount = 0;

async function storedExpiry(
  raw: { findOne(filter: Document): Promise<Document | null> },
  id: string,
) {
  const document = await raw.findOne({ _id: id });
  assert.ok(document?.expires instanceof Date, 'the document has a Date expiry');
  return document.expires.getTime();
}

/** A repository on a collection of its own, over the spec's client (closed by `after`). */
function freshRepository(
  options: { idField?: string; expiresKey?: string; expires?: number } = {},
  listeners: RepositoryListeners = {},
) {
  collectionCount += 1;
  const collection = `sessions_${collectionCount}`;
  const repository = new SessionRepository<Visit>(
    {
      client: database.client,
      databaseName: database.databaseName,
      collection,
      ...options,
    },
    listeners,
  );
  return { repository, raw: database.db.collection<Document>(collection) };
}

describe('get and set', () => {
  test('get yields null for an id that was never set', async () => {
    const { repository } = freshRepository();
    assert.equal(await repository.get('never-set'), null);
  });

  test('a set session comes back from get with its data and cookie', async () => {
    const { repository } = freshRepository();
    const expires = inAnHour();
    await repository.set('s1', { cookie: { expires, originalMaxAge: HOUR, path: '/' }, views: 3 });
    assert.deepEqual(await repository.get('s1'), {
      cookie: { expires, originalMaxAge: HOUR, path: '/' },
      views: 3,
    });
  });

  test('set replaces the whole session, not only the fields it names', async () => {
    const { repository } = freshRepository();
    await repository.set('s1', { cookie: { expires: inAnHour() }, views: 1, user: 'ann' });
    await repository.set('s1', { cookie: { expires: inAnHour() }, views: 2 });
    const session = await repository.get('s1');
    assert.equal(session?.views, 2);
    assert.equal(session?.user, undefined);
  });

  test('the stored expiry is the cookie expiry', async () => {
    const { repository, raw } = freshRepository();
    const expires = inAnHour();
    await repository.set('s1', { cookie: { expires: expires.toISOString() } });
    assert.equal(await storedExpiry(raw, 's1'), expires.getTime());
  });

  test('a cookie without expiry lives for the `expires` option', async () => {
    const { repository, raw } = freshRepository({ expires: 5 * 60 * 1000 });
    const before = Date.now();
    await repository.set('s1', { cookie: { expires: null }, views: 1 });
    const stored = await storedExpiry(raw, 's1');
    assert.ok(stored >= before + 5 * 60 * 1000);
    assert.ok(stored <= Date.now() + 5 * 60 * 1000);
  });

  test('a cookie expiry Date instance is stored in its JSON form', async () => {
    const { repository } = freshRepository();
    const expires = inAnHour();
    // express-session's Cookie keeps `_expires` and exposes `expires` through toJSON.
    const cookie = {
      _expires: expires,
      originalMaxAge: HOUR,
      expires,
      toJSON: () => ({ expires, originalMaxAge: HOUR }),
    };
    await repository.set('s1', { cookie, views: 1 } as Visit);
    assert.deepEqual(await repository.get('s1'), {
      cookie: { expires, originalMaxAge: HOUR },
      views: 1,
    });
  });

  test('setting a session whose cookie has already expired ends it instead of writing it', async () => {
    const { repository, raw } = freshRepository();
    await repository.set('s1', { cookie: { expires: inAnHour() }, views: 1 });
    assert.equal(
      await repository.set('s1', { cookie: { expires: anHourAgo() }, views: 2 }),
      'deleted',
    );
    assert.equal(await raw.countDocuments({ session: { $ne: null } }), 0, 'no session is left');
    assert.equal(await raw.countDocuments({ endedAt: { $exists: true } }), 1, 'the id is ended');
    assert.equal(await repository.get('s1'), null);
    assert.equal(
      await repository.set('s1', { cookie: { expires: inAnHour() }, views: 3 }),
      'refused',
    );
  });

  test('get yields null once cookie.expires has passed, before any TTL sweep', async () => {
    const { repository, raw } = freshRepository();
    await raw.insertOne({ _id: 'old' as never, session: { views: 1 }, expires: anHourAgo() });
    assert.equal(await repository.get('old'), null);
    assert.equal(
      await raw.countDocuments({}),
      1,
      'the document is still there; only reads hide it',
    );
  });

  const unexpiredOnServer = {
    default: () => ({ expires: { $gt: new Date() } }),
    cosmos: () => ({ expires: { $not: { $lte: new Date() } } }),
  };
  for (const [mode, options] of [
    ['default', {}],
    ['cosmos', { expiresKey: '_ts' }],
  ] as const) {
    test(`in the ${mode} mode, get finds by id alone and agrees with the server's unexpired filter on every stored expiry`, async () => {
      const { repository, raw } = freshRepository(options);
      const stored: Array<[string, unknown]> = [
        ['future', inAnHour()],
        ['past', anHourAgo()],
        ['missing', undefined],
        ['null', null],
        ['a string', inAnHour().toISOString()],
        ['a number', inAnHour().getTime()],
      ];
      for (const [id, expires] of stored) {
        await raw.insertOne({
          _id: id as never,
          session: { views: 1 },
          ...(expires === undefined ? {} : { expires }),
        });
      }
      const live = await raw
        .find(unexpiredOnServer[mode]())
        .map((document) => String(document._id))
        .toArray();
      const read: string[] = [];
      for (const [id] of stored) if ((await repository.get(id)) !== null) read.push(id);
      assert.deepEqual(read.sort(), live.sort());
      assert.ok(read.includes('future') && !read.includes('past'), 'the obvious cases');
    });
  }

  test('concurrent sets of one id all succeed and leave one document', async () => {
    const { repository, raw } = freshRepository();
    const writes = Array.from({ length: 25 }, (_, views) =>
      repository.set('contended', { cookie: { expires: inAnHour() }, views }),
    );
    await Promise.all(writes);
    assert.equal(await raw.countDocuments({}), 1);
  });

  test('concurrent sets of one id under a custom idField leave one document', async () => {
    const { repository, raw } = freshRepository({ idField: 'sid' });
    await repository.ready();
    const writes = Array.from({ length: 25 }, (_, views) =>
      repository.set('contended', { cookie: { expires: inAnHour() }, views }),
    );
    await Promise.all(writes);
    assert.equal(await raw.countDocuments({ sid: 'contended' }), 1);
  });
});

describe('touch', () => {
  test('touch moves the expiry and the stored cookie forward and keeps the data', async () => {
    const { repository, raw } = freshRepository();
    await repository.set('s1', { cookie: { expires: inAnHour(), originalMaxAge: HOUR }, views: 7 });
    const later = new Date(Date.now() + 3 * HOUR);
    await repository.touch('s1', {
      cookie: { expires: later, originalMaxAge: 3 * HOUR },
      views: 999,
    });
    assert.equal(await storedExpiry(raw, 's1'), later.getTime());
    assert.deepEqual(await repository.get('s1'), {
      cookie: { expires: later, originalMaxAge: 3 * HOUR },
      views: 7,
    });
  });

  test('touching a session that does not exist resolves and creates nothing', async () => {
    const { repository, raw } = freshRepository();
    await repository.touch('missing', { cookie: { expires: inAnHour() }, views: 1 });
    assert.equal(await raw.countDocuments({}), 0);
  });

  test('touching a session stored as a string rewrites it whole in the document form', async () => {
    const { repository, raw } = freshRepository();
    const expires = inAnHour();
    const cookie = { expires: expires.toISOString(), originalMaxAge: HOUR };
    await raw.insertOne({
      _id: 'from-json' as never,
      session: JSON.stringify({ cookie, views: 4 }),
      expires,
    });
    const later = new Date(Date.now() + 2 * HOUR);
    await repository.touch('from-json', { cookie: { expires: later }, views: 4 });
    const stored = await raw.findOne({ _id: 'from-json' as never });
    assert.deepEqual(stored?.session, { cookie: { expires: later }, views: 4 });
    assert.equal((stored?.expires as Date | undefined)?.getTime(), later.getTime());
  });

  test('touching an expired session does not bring it back', async () => {
    const { repository, raw } = freshRepository();
    await raw.insertOne({ _id: 'old' as never, session: { views: 1 }, expires: anHourAgo() });
    await repository.touch('old', { cookie: { expires: inAnHour() } });
    assert.equal(await repository.get('old'), null);
  });
});

describe('destroy, clear and deleteExpired', () => {
  test('destroy removes one session and leaves the others', async () => {
    const { repository } = freshRepository();
    await repository.set('a', { cookie: { expires: inAnHour() } });
    await repository.set('b', { cookie: { expires: inAnHour() } });
    await repository.destroy('a');
    assert.equal(await repository.get('a'), null);
    assert.notEqual(await repository.get('b'), null);
  });

  test('destroy takes a list of ids', async () => {
    const { repository } = freshRepository();
    for (const id of ['a', 'b', 'c']) await repository.set(id, { cookie: { expires: inAnHour() } });
    await repository.destroy(['a', 'c']);
    assert.deepEqual(await repository.ids(), ['b']);
  });

  test('destroying an id that does not exist is not an error', async () => {
    const { repository } = freshRepository();
    await repository.destroy('missing');
  });

  test('clear removes every session', async () => {
    const { repository } = freshRepository();
    for (const id of ['a', 'b']) await repository.set(id, { cookie: { expires: inAnHour() } });
    await repository.clear();
    assert.equal(await repository.length(), 0);
  });

  test('deleteExpired removes expired sessions only and says how many', async () => {
    const { repository, raw } = freshRepository();
    await repository.set('live', { cookie: { expires: inAnHour() } });
    await raw.insertMany([
      { _id: 'old1' as never, session: {}, expires: anHourAgo() },
      { _id: 'old2' as never, session: {}, expires: anHourAgo() },
    ]);
    assert.equal(await repository.deleteExpired(), 2);
    assert.deepEqual(
      (await raw.find({}).toArray()).map((document) => document._id),
      ['live'],
    );
  });
});

describe('length, ids, all and the iterator', () => {
  async function withOneExpired() {
    const fresh = freshRepository();
    await fresh.repository.set('a', { cookie: { expires: inAnHour() }, views: 1 });
    await fresh.repository.set('b', { cookie: { expires: inAnHour() }, views: 2 });
    await fresh.raw.insertOne({ _id: 'old' as never, session: { views: 3 }, expires: anHourAgo() });
    return fresh;
  }

  test('length counts unexpired sessions only', async () => {
    const { repository } = await withOneExpired();
    assert.equal(await repository.length(), 2);
  });

  test('ids lists unexpired sessions only', async () => {
    const { repository } = await withOneExpired();
    assert.deepEqual((await repository.ids()).sort(), ['a', 'b']);
  });

  test('all yields unexpired sessions, each with its id and expiry beside it', async () => {
    const { repository } = await withOneExpired();
    const sessions = (await repository.all()).sort((x, y) => x.id.localeCompare(y.id));
    assert.ok(sessions.every(({ expires }) => expires instanceof Date));
    assert.deepEqual(
      sessions.map(({ id, session }) => ({ id, views: session.views })),
      [
        { id: 'a', views: 1 },
        { id: 'b', views: 2 },
      ],
    );
  });

  test("all leaves a session's own id field as it is", async () => {
    const { repository } = freshRepository();
    await repository.set('sid-1', { cookie: { expires: inAnHour() }, id: 'user-7' } as Visit);
    const [stored] = await repository.all();
    assert.equal(stored?.id, 'sid-1');
    assert.equal((stored?.session as (Visit & { id: string }) | undefined)?.id, 'user-7');
  });

  test('ids and all work with a custom idField', async () => {
    const { repository } = freshRepository({ idField: 'sid' });
    await repository.set('x', { cookie: { expires: inAnHour() }, views: 1 });
    assert.deepEqual(await repository.ids(), ['x']);
    assert.equal((await repository.all())[0]?.id, 'x');
  });

  test('the async iterator streams a few thousand sessions from a cursor', async () => {
    const { repository, raw } = freshRepository();
    const expires = inAnHour();
    const total = 3_000;
    for (let start = 0; start < total; start += 1_000) {
      await raw.insertMany(
        Array.from({ length: 1_000 }, (_, i) => ({
          _id: `s${start + i}` as never,
          session: { views: start + i },
          expires,
        })),
      );
    }
    await raw.insertOne({ _id: 'old' as never, session: {}, expires: anHourAgo() });
    let count = 0;
    let viewSum = 0;
    for await (const { id, session, expires: storedExpiry } of repository) {
      assert.ok(id.startsWith('s'));
      assert.equal(storedExpiry.getTime(), expires.getTime());
      viewSum += session.views ?? 0;
      count += 1;
    }
    assert.equal(count, total);
    assert.equal(viewSum, (total * (total - 1)) / 2);
  });

  test('leaving the iterator early closes its cursor and keeps the repository usable', async () => {
    const { repository } = freshRepository();
    for (const id of ['a', 'b', 'c']) await repository.set(id, { cookie: { expires: inAnHour() } });
    for await (const entry of repository.sessions()) {
      assert.ok(entry.id);
      break;
    }
    assert.equal(await repository.length(), 3);
  });
});

describe('bad input', () => {
  const badIds: Array<[string, unknown]> = [
    ['a query object', { $ne: null }],
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an empty string', ''],
    ['an array', ['a']],
  ];

  for (const [label, badId] of badIds) {
    test(`get rejects ${label} as a session id with a TypeError and runs no query`, async () => {
      const { repository } = freshRepository();
      await repository.ready();
      const commands: string[] = [];
      const listener = (event: { commandName: string }) => commands.push(event.commandName);
      database.client.on('commandStarted', listener);
      try {
        await assert.rejects(repository.get(badId as string), (error: unknown) => {
          assert.ok(error instanceof TypeError);
          assert.ok(error instanceof InvalidSessionIdError);
          assert.equal(error.code, 'INVALID_SESSION_ID');
          return true;
        });
      } finally {
        database.client.off('commandStarted', listener);
      }
      assert.deepEqual(commands, []);
    });
  }

  test('set, touch and destroy reject a non-string id before any write', async () => {
    const { repository, raw } = freshRepository();
    const session = { cookie: { expires: inAnHour() } };
    await assert.rejects(repository.set({ $gt: '' } as unknown as string, session), TypeError);
    await assert.rejects(repository.touch(7 as unknown as string, session), TypeError);
    await assert.rejects(repository.destroy(['ok', 7] as unknown as string[]), TypeError);
    assert.equal(await raw.countDocuments({}), 0);
  });

  test('set rejects a session that is not an object', async () => {
    const { repository } = freshRepository();
    await assert.rejects(
      repository.set('s1', 'text' as unknown as Visit),
      /Expected a session to be an object/,
    );
  });

  test('set rejects an unreadable cookie expiry', async () => {
    const { repository } = freshRepository();
    await assert.rejects(repository.set('s1', { cookie: { expires: 'not a date' } }), TypeError);
  });

  test('a rejected write names no session content or id, and the repository stays usable', async () => {
    const { repository } = freshRepository();
    const secretId = 'secret-session-id-0123456789';
    // Larger than any server accepts (16 MiB), so every backend refuses it.
    const tooLarge = {
      cookie: { expires: inAnHour() },
      user: `secret-${'x'.repeat(17 * 1024 * 1024)}`,
    };
    await assert.rejects(repository.set(secretId, tooLarge), (error: unknown) => {
      assert.ok(error instanceof InvalidSessionError, 'refused before it is sent');
      assert.equal(error.code, 'INVALID_SESSION');
      assert.doesNotMatch(error.message, /secret/);
      return true;
    });
    await repository.set('next', { cookie: { expires: inAnHour() }, views: 1 });
    assert.equal((await repository.get('next'))?.views, 1);
  });
});

describe('indexes and lifecycle', () => {
  test('a custom idField gets a unique index', async () => {
    const { repository, raw } = freshRepository({ idField: 'sid' });
    await repository.ready();
    assert.equal((await repository.whenIndexed()).unique, 'ensured');
    const indexes = await raw.listIndexes().toArray();
    const unique = indexes.find(
      (index) => JSON.stringify(index.key) === JSON.stringify({ sid: 1 }),
    );
    assert.equal(unique?.unique, true);
  });

  test('a unique index that cannot be created is reported without the id, and reads and writes still work', async () => {
    const reported: IndexError[] = [];
    const { repository, raw } = freshRepository(
      { idField: 'sid' },
      { indexFailed: (error) => reported.push(error) },
    );
    // Two documents with one id make a unique index on the id field impossible.
    await raw.insertMany([
      { sid: 'twin-secret-id', session: {}, expires: inAnHour() },
      { sid: 'twin-secret-id', session: {}, expires: inAnHour() },
    ]);
    await repository.ready();
    const status = await repository.whenIndexed();
    assert.equal(status.unique, 'failed');
    assert.equal(reported.length, 1, 'reported once');
    const [error] = status.errors;
    assert.ok(error instanceof IndexError, 'the status holds an IndexError');
    assert.equal(error, reported[0]);
    assert.equal(error.code, 'INDEX_FAILED');
    assert.equal(error.index, 'unique');
    assert.match(error.message, /duplicates/);
    assert.doesNotMatch(error.message, /twin/);
    assert.ok(error.driverError instanceof Error, 'the driver error stays reachable');
    assert.doesNotMatch(inspect(error, { depth: Infinity }), /twin/, 'and is not printed');
    await repository.set('s1', { cookie: { expires: inAnHour() }, views: 4 });
    assert.equal((await repository.get('s1'))?.views, 4);
  });

  test('a clientPromise is awaited, used, and left open by close', async () => {
    const repository = new SessionRepository<Visit>({
      clientPromise: Promise.resolve(database.client),
      databaseName: database.databaseName,
      collection: 'from_promise',
    });
    assert.equal(repository.client, undefined);
    await repository.set('s1', { cookie: { expires: inAnHour() }, views: 2 });
    assert.equal(repository.client, database.client);
    assert.equal(repository.db?.databaseName, database.databaseName);
    await repository.close();
    assert.equal(await database.db.collection('from_promise').countDocuments({}), 1);
  });

  test('operations after close reject with StoreClosedError', async () => {
    const { repository } = freshRepository();
    await repository.close();
    await assert.rejects(repository.get('s1'), StoreClosedError);
  });

  test('close twice is safe and leaves a client it did not create open', async () => {
    const { repository } = freshRepository();
    await repository.set('s1', { cookie: { expires: inAnHour() } });
    await Promise.all([repository.close(), repository.close()]);
    await repository.close();
    const reply = await database.client.db('admin').command({ ping: 1 });
    assert.equal(reply.ok, 1);
  });

  test('close lets operations already issued finish before it closes the client it created', async () => {
    const repository = new SessionRepository<Visit>({
      uri: database.uri,
      databaseName: database.databaseName,
      collection: 'close_waits',
    });
    const writes = Array.from({ length: 10 }, (_, i) =>
      repository.set(`s${i}`, { cookie: { expires: inAnHour() } }),
    );
    await repository.close();
    await Promise.all(writes);
    assert.equal(await database.db.collection('close_waits').countDocuments({}), 10);
  });
});
