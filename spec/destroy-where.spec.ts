/**
 * "Log out everywhere": `destroyWhere` on the real test server, in both forms. A predicate reads
 * every session here, whatever the stored form; a filter over session fields is sent to the
 * server, and refused before anything is sent where it cannot work.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import type { SessionData } from 'express-session';
import type { CommandStartedEvent, Document } from 'mongodb';
import type { SessionLike } from '../lib/codec/session-types.js';
import {
  hashSessionId,
  MongoDBStore,
  OperationError,
  StoreClosedError,
  UnreadableSessionError,
} from '../lib/index.js';
import type { SessionRepositoryOptions } from '../lib/options/options.js';
import { DESTROY_LIST_SIZE } from '../lib/repository/bulk-operations.js';
import { SessionRepository } from '../lib/repository/session-repository.js';
import { commandsDuring, specBackend, useSpecDatabase } from './support/database.js';

declare module 'express-session' {
  interface SessionData {
    user?: string;
  }
}

interface Account extends SessionLike {
  cookie?: { expires?: Date | null };
  user?: { id: number; name?: string };
  views?: number;
  [field: string]: unknown;
}

/** A stored document as the spec writes it by hand. */
interface RawSession {
  _id: string;
  session: unknown;
  expires: Date;
}

const HOUR = 60 * 60 * 1000;
const inAnHour = () => new Date(Date.now() + HOUR);
const anHourAgo = () => new Date(Date.now() - HOUR);

const database = useSpecDatabase(import.meta.url);
let collectionCount = 0;

/** A repository on a collection of its own, over the spec's monitored client; closed when `t` ends. */
function repositoryFor(
  t: TestContext,
  options: SessionRepositoryOptions = {},
  unreadable: UnreadableSessionError[] = [],
) {
  collectionCount += 1;
  const collection = `where_${collectionCount}`;
  const repository = new SessionRepository<Account>(
    {
      client: database.client,
      databaseName: database.databaseName,
      collection,
      autoRemove: 'disabled',
      manageIndexes: false,
      ...options,
    },
    { unreadable: (error) => unreadable.push(error) },
  );
  t.after(() => repository.close());
  return { repository, raw: database.db.collection<RawSession>(collection) };
}

/** Ann (user 7) signed in on three devices, among two other users and an anonymous visitor. */
async function threeDevices(repository: SessionRepository<Account>) {
  const cookie = () => ({ expires: inAnHour() });
  await repository.set('ann-laptop', { cookie: cookie(), user: { id: 7, name: 'ann' }, views: 3 });
  await repository.set('ann-phone', { cookie: cookie(), user: { id: 7, name: 'ann' }, views: 1 });
  await repository.set('ann-tablet', { cookie: cookie(), user: { id: 7, name: 'ann' } });
  await repository.set('bob-laptop', { cookie: cookie(), user: { id: 8, name: 'bob' }, views: 5 });
  await repository.set('eve-phone', { cookie: cookie(), user: { id: 70, name: 'eve' } });
  await repository.set('anonymous', { cookie: cookie(), views: 9 });
}

/** The names of the commands the spec's client started while `run` ran. */
async function commandNamesDuring(run: () => Promise<unknown>): Promise<string[]> {
  return (await commandsDuring(database.client, run)).map((event) => event.commandName);
}

const OTHERS = ['anonymous', 'bob-laptop', 'eve-phone'];

/** Session ids still stored, as the repository reads them back. */
async function remaining(repository: SessionRepository<Account>): Promise<string[]> {
  const sessions: string[] = [];
  for await (const { session } of repository.sessions()) {
    sessions.push(`${session.user?.name ?? 'anonymous'}:${session.views ?? 0}`);
  }
  return sessions.sort();
}

describe('both forms', () => {
  const forms = {
    predicate: (session: Account) => session.user?.id === 7,
    filter: { 'user.id': 7 },
  };
  for (const [form, filter] of Object.entries(forms)) {
    test(`${form}: a user signed in on three devices loses all three sessions, and nobody else loses one`, async (t) => {
      const { repository } = repositoryFor(t);
      await threeDevices(repository);
      assert.equal(await repository.destroyWhere(filter), 3, 'three sessions destroyed');
      assert.deepEqual((await repository.ids()).sort(), OTHERS);
      for (const sid of ['ann-laptop', 'ann-phone', 'ann-tablet']) {
        assert.equal(await repository.get(sid), null, `${sid} is gone`);
      }
      assert.equal(await repository.destroyWhere(filter), 0, 'nothing left to destroy');
    });

    test(`${form}: with a custom idField and expiresKey, the same three sessions go`, async (t) => {
      const { repository, raw } = repositoryFor(t, { idField: 'sid', expiresKey: 'until' });
      await threeDevices(repository);
      assert.equal(await repository.destroyWhere(filter), 3, 'three sessions destroyed');
      assert.deepEqual((await repository.ids()).sort(), OTHERS);
      const live = { until: { $gt: new Date() }, endedAt: { $exists: false } };
      assert.equal(await raw.countDocuments(live), 3, 'three stay');
      const ended = await raw.find({ endedAt: { $exists: true } }).toArray();
      assert.deepEqual(
        ended.map((document) => (document as Document).sid).sort(),
        ['ann-laptop', 'ann-phone', 'ann-tablet'],
        'the three are kept as ended, under the custom idField',
      );
    });

    test(`${form}: an expired session is left to the sweep and not counted`, async (t) => {
      const { repository, raw } = repositoryFor(t);
      await repository.set('ann-live', { cookie: { expires: inAnHour() }, user: { id: 7 } });
      await raw.insertOne({ _id: 'ann-dead', session: { user: { id: 7 } }, expires: anHourAgo() });
      assert.equal(await repository.destroyWhere(filter), 1, 'only the live session counts');
      assert.deepEqual(
        (await raw.find({ endedAt: { $exists: false } }).toArray()).map((document) => document._id),
        ['ann-dead'],
        'the expired one stays for the sweep',
      );
    });
  }
});

describe('the predicate form', () => {
  test('an async predicate is awaited for each session, one at a time', async (t) => {
    const { repository } = repositoryFor(t);
    await threeDevices(repository);
    let running = 0;
    let mostAtOnce = 0;
    const destroyed = await repository.destroyWhere(async (session) => {
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      await new Promise((resolve) => setImmediate(resolve));
      running -= 1;
      return session.user?.name === 'ann';
    });
    assert.equal(destroyed, 3, 'three sessions destroyed');
    assert.equal(mostAtOnce, 1, 'one call at a time');
    assert.deepEqual(await remaining(repository), ['anonymous:9', 'bob:5', 'eve:0']);
  });

  test('the predicate gets every unexpired session once, with its id as ids() yields it', async (t) => {
    const { repository, raw } = repositoryFor(t, { transformId: hashSessionId(randomBytes(32)) });
    await threeDevices(repository);
    await raw.insertOne({ _id: 'dead', session: { user: { id: 7 } }, expires: anHourAgo() });
    const seen: string[] = [];
    const ids = await repository.ids();
    const destroyed = await repository.destroyWhere((_session, id) => {
      seen.push(id);
      return id === ids[0];
    });
    assert.equal(destroyed, 1, 'the session chosen by its stored key is destroyed');
    assert.deepEqual(seen.sort(), [...ids].sort(), 'the stored keys of the live sessions');
    assert.deepEqual((await repository.ids()).sort(), ids.slice(1).sort());
  });

  const opaque: Record<string, SessionRepositoryOptions> = {
    encryption: { encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] } },
    "serializer: 'json'": { serializer: 'json' },
    'a custom serializer': {
      serializer: {
        stringify: (session) => Buffer.from(JSON.stringify(session)).toString('base64'),
        parse: (text) => JSON.parse(Buffer.from(text, 'base64').toString()),
      },
    },
  };
  for (const [name, options] of Object.entries(opaque)) {
    test(`works on sessions stored with ${name}, which the server cannot query`, async (t) => {
      const { repository, raw } = repositoryFor(t, options);
      await threeDevices(repository);
      const stored = await raw.findOne({ _id: 'ann-laptop' });
      assert.ok(stored !== null && !('user' in Object(stored.session)), 'no field to query');
      const destroyed = await repository.destroyWhere((session) => session.user?.id === 7);
      assert.equal(destroyed, 3, 'three sessions destroyed');
      assert.deepEqual((await repository.ids()).sort(), OTHERS);
    });
  }

  test('a predicate that throws rejects with its error, having destroyed only what it chose before', async (t) => {
    const { repository } = repositoryFor(t);
    await threeDevices(repository);
    const failure = new Error('the predicate failed');
    const chosen: string[] = [];
    let calls = 0;
    await assert.rejects(
      repository.destroyWhere((_session, id) => {
        calls += 1;
        if (calls === 3) throw failure;
        chosen.push(id);
        return true;
      }),
      (error) => error === failure,
    );
    assert.equal(chosen.length, 2, 'two sessions chosen before the throw');
    const left = await repository.ids();
    assert.equal(left.length, 4, 'the two chosen are destroyed, the four others stay');
    for (const id of chosen) assert.ok(!left.includes(id), `${id} was destroyed`);
    assert.equal(await repository.destroyWhere(() => false), 0, 'the repository goes on working');
  });

  test('closing the repository during the scan rejects with StoreClosedError', async (t) => {
    const { repository } = repositoryFor(t);
    await threeDevices(repository);
    let closing: Promise<void> | undefined;
    await assert.rejects(
      repository.destroyWhere(() => {
        closing ??= repository.close();
        return false;
      }),
      StoreClosedError,
    );
    await closing;
    await assert.rejects(repository.destroyWhere({ 'user.id': 7 }), StoreClosedError);
    await assert.rejects(
      repository.destroyWhere(() => true),
      StoreClosedError,
    );
  });

  test('a session that cannot be read is skipped and reported, as the iterator does', async (t) => {
    const unreadable: UnreadableSessionError[] = [];
    const { repository, raw } = repositoryFor(t, {}, unreadable);
    await threeDevices(repository);
    await raw.insertOne({ _id: 'broken', session: 42, expires: inAnHour() });
    assert.equal(await repository.destroyWhere(() => true), 6, 'every readable session');
    assert.equal(unreadable.length, 1, 'the unreadable one is reported');
    assert.ok(unreadable[0] instanceof UnreadableSessionError, 'as UnreadableSessionError');
    assert.deepEqual(await repository.ids(), ['broken'], 'and left in place');
  });

  test(`more matches than one list of ${DESTROY_LIST_SIZE} ids are destroyed in several deletes`, async (t) => {
    const { repository, raw } = repositoryFor(t);
    const expires = inAnHour();
    const total = DESTROY_LIST_SIZE + 200;
    await raw.insertMany(
      Array.from({ length: total }, (_, index) => ({
        _id: `s${String(index).padStart(5, '0')}`,
        session: { user: { id: index % 30 === 0 ? 1 : 2 } },
        expires,
      })),
    );
    let destroyed = 0;
    const commands = await commandNamesDuring(async () => {
      destroyed = await repository.destroyWhere((session) => session.user?.id === 2);
    });
    assert.equal(destroyed, total - total / 30, 'every match destroyed');
    assert.equal(await repository.length(), total / 30, 'the others stay');
    const deletes = commands.filter((name) => name === 'delete').length;
    assert.equal(deletes, 2, `two lists of ids (${commands.join(', ')})`);
  });
});

describe('the filter form', () => {
  test('nested paths and operators select on session fields', async (t) => {
    const { repository } = repositoryFor(t);
    await threeDevices(repository);
    assert.equal(await repository.destroyWhere({ views: { $gte: 3 } }), 3, 'views ≥ 3');
    assert.deepEqual(await remaining(repository), ['ann:0', 'ann:1', 'eve:0']);
    assert.equal(
      await repository.destroyWhere({ user: { id: 70, name: 'eve' } }),
      1,
      'a whole object',
    );
    assert.equal(await repository.destroyWhere({ 'user.id': 7, views: { $exists: true } }), 1);
    assert.deepEqual(await remaining(repository), ['ann:0']);
    // Ended ids stay ended for the termination window: clear() is the reset that frees them.
    await repository.clear();
    await threeDevices(repository);
    // As in MongoDB, $not also matches the sessions without the field.
    assert.equal(await repository.destroyWhere({ 'user.name': { $in: ['eve', 'zoe'] } }), 1);
    const notAnn = await repository.destroyWhere({ 'user.name': { $not: /^a/ } });
    assert.equal(notAnn, 2, 'bob and the anonymous visitor');
    assert.equal(await repository.destroyWhere({ views: { $not: { $lt: 2 } } }), 2, '3 and none');
    assert.deepEqual(await remaining(repository), ['ann:1']);
  });

  test('$or, $and and $nor combine filters', async (t) => {
    const { repository } = repositoryFor(t);
    await threeDevices(repository);
    const destroyed = await repository.destroyWhere({
      $or: [{ 'user.name': 'bob' }, { $and: [{ 'user.id': 7 }, { views: { $lt: 2 } }] }],
    });
    assert.equal(destroyed, 2, "bob's and ann's phone");
    assert.deepEqual(await remaining(repository), ['ann:0', 'ann:3', 'anonymous:9', 'eve:0']);
    assert.equal(
      await repository.destroyWhere({ $nor: [{ 'user.id': 7 }, { user: { $exists: false } }] }),
      1,
      'everyone but ann and the anonymous visitor: eve',
    );
    assert.deepEqual(await remaining(repository), ['ann:0', 'ann:3', 'anonymous:9']);
  });

  test('keys that the stored form escapes are named as the session has them', async (t) => {
    const { repository } = repositoryFor(t);
    const cookie = () => ({ expires: inAnHour() });
    await repository.set('beta', { cookie: cookie(), flags: { $beta: true, '50%': 1 } });
    await repository.set('plain', { cookie: cookie(), flags: { beta: true, '50': 1 } });
    await repository.set('dotted', { cookie: cookie(), visits: [{ 'example.com': 2 }] });
    assert.equal(await repository.destroyWhere({ 'flags.$beta': true }), 1, 'a leading $');
    await repository.set('beta-again', { cookie: cookie(), flags: { $beta: true, '50%': 1 } });
    assert.equal(await repository.destroyWhere({ 'flags.50%': { $gte: 1 } }), 1, 'a %');
    assert.equal(
      await repository.destroyWhere({ visits: { $elemMatch: { 'example.com': { $gt: 1 } } } }),
      0,
      'within $elemMatch a dot still separates keys',
    );
    assert.equal(await repository.destroyWhere({ visits: [{ 'example.com': 2 }] }), 1, 'a value');
    assert.deepEqual(await repository.ids(), ['plain']);
  });

  test('$elemMatch selects on array elements', async (t) => {
    const { repository } = repositoryFor(t);
    await repository.set('a', { cookie: { expires: inAnHour() }, scores: [70, 82, 95] });
    await repository.set('b', { cookie: { expires: inAnHour() }, scores: [79, 85] });
    // One operator: FerretDB 1.x applies several in one $elemMatch to the array as a whole.
    const filter = { scores: { $elemMatch: { $gt: 90 } } };
    assert.equal(await repository.destroyWhere(filter), 1, 'only a has a score above 90');
    assert.deepEqual(await repository.ids(), ['b']);
  });

  test('$all requires every value it lists', async (t) => {
    const { repository } = repositoryFor(t);
    await repository.set('a', { cookie: { expires: inAnHour() }, roles: ['admin', 'staff'] });
    await repository.set('b', { cookie: { expires: inAnHour() }, roles: ['staff'] });
    assert.equal(await repository.destroyWhere({ roles: { $all: ['staff', 'admin'] } }), 1);
    assert.deepEqual(await repository.ids(), ['b']);
  });

  test("$elemMatch on the elements' fields sends their keys as stored", async (t) => {
    const { repository } = repositoryFor(t);
    const cookie = () => ({ expires: inAnHour() });
    await repository.set('a', {
      cookie: cookie(),
      devices: [{ os: 'ios', 'v%': 17 }, { os: 'mac' }],
    });
    await repository.set('b', { cookie: cookie(), devices: [{ os: 'ios', 'v%': 15 }] });
    const filters: Document[] = [];
    const listener = (event: CommandStartedEvent) => {
      if (event.commandName === 'find') filters.push(event.command.filter);
    };
    database.client.on('commandStarted', listener);
    t.after(() => database.client.off('commandStarted', listener));
    const destroyed = repository.destroyWhere({
      devices: { $elemMatch: { os: 'ios', 'v%': { $gte: 16 } } },
    });
    if (specBackend() === 'sqlite' || specBackend() === 'postgresql') {
      // FerretDB 1.x takes only operators in $elemMatch (docs/logging-out-everywhere.md).
      await assert.rejects(destroyed, OperationError);
    } else {
      assert.equal(await destroyed, 1, 'only a has a recent iOS device');
    }
    const element = { $elemMatch: { os: 'ios', 'v%25': { $gte: 16 } } };
    assert.deepEqual(filters[0]?.['session.devices'], element);
    // In `$all` too; FerretDB 1.x matches no document with it.
    const inAll = repository.destroyWhere({
      devices: { $all: [{ $elemMatch: { os: 'ios', 'v%': { $gte: 16 } } }] },
    });
    if (specBackend() === 'sqlite' || specBackend() === 'postgresql') {
      await inAll.catch(() => undefined);
    } else {
      assert.equal(await inAll, 1, 'a, once more');
    }
    assert.deepEqual(filters[1]?.['session.devices'], { $all: [element] });
  });

  test('the filter is sent with the delete: no session is read here, and the ended ids stay ended', async (t) => {
    const { repository } = repositoryFor(t);
    await threeDevices(repository);
    const sent: CommandStartedEvent[] = [];
    const listener = (event: CommandStartedEvent) => sent.push(event);
    database.client.on('commandStarted', listener);
    t.after(() => database.client.off('commandStarted', listener));
    await repository.destroyWhere({ 'user.id': 7 });
    const names = sent.map((event) => event.commandName);
    assert.deepEqual(names, ['find', 'delete', 'insert'], 'the ids, their delete, their records');
    assert.deepEqual(sent[0]?.command.projection, { _id: 1 }, 'only the ids are read');
    assert.equal(sent[0]?.command.filter['session.user.id'], 7, 'the filter, rewritten');
    assert.equal(sent[1]?.command.deletes[0].q['session.user.id'], 7, 'the delete filters too');
    const records = sent[2]?.command.documents as Document[];
    assert.deepEqual(
      records.map((record) => [record._id, Object.keys(record).sort()]).sort(),
      ['ann-laptop', 'ann-phone', 'ann-tablet'].map((id) => [
        id,
        ['_id', 'endedAt', 'expires', 'session'],
      ]),
      'a record of each ended id, holding no session',
    );
    const refused = await repository.set('ann-phone', { cookie: { expires: inAnHour() } });
    assert.equal(refused, 'refused', 'an ended id is not stored again');
  });

  test(`more matches than one list of ${DESTROY_LIST_SIZE} ids are ended in several`, async (t) => {
    const { repository, raw } = repositoryFor(t);
    const expires = inAnHour();
    const total = 2 * DESTROY_LIST_SIZE + 500;
    for (let start = 0; start < total; start += 5_000) {
      await raw.insertMany(
        Array.from({ length: Math.min(5_000, total - start) }, (_, offset) => ({
          _id: `s${String(start + offset).padStart(6, '0')}`,
          session: { user: { id: (start + offset) % 100 === 0 ? 1 : 2 } },
          expires,
        })),
      );
    }
    let destroyed = 0;
    const started = Date.now();
    const commands = await commandNamesDuring(async () => {
      destroyed = await repository.destroyWhere({ 'user.id': 2 });
    });
    t.diagnostic(
      `${total - total / 100} of ${total} sessions destroyed in ${Date.now() - started} ms`,
    );
    assert.equal(destroyed, total - total / 100, 'every match destroyed');
    assert.equal(await repository.length(), total / 100, 'the others stay');
    const deletes = commands.filter((name) => name === 'delete').length;
    assert.equal(deletes, 3, `three lists (${commands.join(', ')})`);
  });
});

describe('filters refused before anything is sent', () => {
  const refusals: Array<[string, SessionRepositoryOptions, unknown, RegExp]> = [
    ["serializer: 'json'", { serializer: 'json' }, { 'user.id': 7 }, /`serializer`.*predicate/],
    [
      'a custom serializer',
      { serializer: { stringify: JSON.stringify, parse: JSON.parse } },
      { 'user.id': 7 },
      /`serializer`.*predicate/,
    ],
    [
      'encryption',
      { encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] } },
      { 'user.id': 7 },
      /`encryption`.*predicate/,
    ],
    ['$where', {}, { $where: 'this.session.user.id == 7' }, /`\$where` is not allowed/],
    ['$expr', {}, { $expr: { $eq: ['$session.user.id', 7] } }, /`\$expr` is not allowed/],
    ['$where inside $or', {}, { $or: [{ $where: 'true' }] }, /`\$where`.*\$or\[0\]/],
    ['a $function in a condition', {}, { user: { $function: {} } }, /`\$function`/],
    ['an array', {}, [{ 'user.id': 7 }], /predicate .* or a plain object.*got an array/],
    ['null', {}, null, /got null/],
    ['a string', {}, 'user.id', /got a string/],
    ['an empty filter', {}, {}, /select every session/],
    ['an undefined value', {}, { 'user.id': undefined }, /undefined.*without the field/],
    ['an empty $or', {}, { $or: [] }, /`\$or`.*non-empty array/],
    ['an empty key in a path', {}, { 'user..id': 7 }, /empty key/],
    ['operators mixed with fields', {}, { user: { $gt: 1, id: 7 } }, /mixing/],
    ['a function value', {}, { 'user.id': () => 7 }, /a value .*got a function/],
    ['$not of nothing', {}, { views: { $not: {} } }, /`\$not`.*operators or a RegExp/],
    ['$in of a string', {}, { 'user.id': { $in: '7' } }, /`\$in`.*an array, got a string/],
    ['$not of a number', {}, { views: { $not: 3 } }, /`\$not`.*operators or a RegExp/],
    ['$elemMatch of an array', {}, { devices: { $elemMatch: [] } }, /`\$elemMatch`.*non-empty/],
  ];
  for (const [name, options, filter, message] of refusals) {
    test(`${name}: a TypeError, nothing sent, and the repository goes on working`, async (t) => {
      const { repository } = repositoryFor(t, options);
      await threeDevices(repository);
      const commands = await commandNamesDuring(() =>
        assert.rejects(
          repository.destroyWhere(filter as never),
          (error) => error instanceof TypeError && message.test(error.message),
        ),
      );
      assert.deepEqual(commands, [], 'no command sent');
      assert.equal(await repository.destroyWhere((session) => session.user?.id === 7), 3);
    });
  }

  test('messages quote neither the keys nor the values of the filter', async (t) => {
    const { repository } = repositoryFor(t);
    const secret = 'secret-5f1e';
    const filters: unknown[] = [
      { [`${secret}..x`]: 1 },
      { [`$${secret}`]: 1 },
      { user: { [`$${secret}`]: 1 } },
      { [secret]: undefined },
      { [secret]: { $in: secret } },
      { $or: [{ [secret]: 1 }, secret] },
    ];
    for (const filter of filters) {
      await assert.rejects(repository.destroyWhere(filter as never), (error) => {
        assert.ok(error instanceof TypeError, 'a TypeError');
        assert.ok(!error.message.includes(secret), `no key or value quoted: ${error.message}`);
        return true;
      });
    }
  });

  test('a filter that contains itself is refused, not followed forever', async (t) => {
    const { repository } = repositoryFor(t);
    const filter: Record<string, unknown> = { 'user.id': 7 };
    filter.$or = [filter];
    await assert.rejects(repository.destroyWhere(filter as never), /circular/);
  });
});

describe('the store', () => {
  function storeFor(t: TestContext) {
    collectionCount += 1;
    const store = new MongoDBStore({
      client: database.client,
      databaseName: database.databaseName,
      collection: `where_store_${collectionCount}`,
      autoRemove: 'disabled',
    });
    t.after(() => store.close());
    return store;
  }

  async function signIn(store: MongoDBStore) {
    const cookie = () => ({ originalMaxAge: HOUR, expires: inAnHour() }) as SessionData['cookie'];
    for (const [sid, user] of [
      ['a1', 'ann'],
      ['a2', 'ann'],
      ['b1', 'bob'],
    ] as const) {
      await store.set(sid, { cookie: cookie(), user });
    }
  }

  test('destroyWhere resolves with the count, in both forms', async (t) => {
    const store = storeFor(t);
    await signIn(store);
    assert.equal(await store.destroyWhere({ user: 'ann' }), 2, 'filter');
    assert.equal(await store.destroyWhere((session) => session.user === 'bob'), 1, 'predicate');
    assert.equal(await store.length(), 0, 'none left');
  });

  test('destroyWhere with a callback gives the count, or the TypeError', async (t) => {
    const store = storeFor(t);
    await signIn(store);
    const count = await new Promise((resolve, reject) => {
      const returned = store.destroyWhere(
        (session) => session.user === 'ann',
        (error, value) => (error === null ? resolve(value) : reject(error)),
      );
      assert.equal(returned, undefined, 'nothing returned with a callback');
    });
    assert.equal(count, 2, 'two sessions destroyed');
    const error = await new Promise((resolve) => {
      store.destroyWhere({ $where: 'true' }, (failure) => resolve(failure));
    });
    assert.ok(error instanceof TypeError, 'the TypeError reaches the callback');
    assert.deepEqual(await store.ids(), ['b1'], 'and the store goes on working');
  });
});
