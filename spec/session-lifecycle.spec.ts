/**
 * A session's life as the store keeps it: the absolute lifetime (`absoluteTimeoutMs`), the window
 * for which an ended id stays ended (`terminationWindowMs`), the audit times stored in clear, and
 * a user's devices (`listWhere`, handles, `destroyWhere(filter, { only, except })`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { SessionData } from 'express-session';
import { hashSessionId, MongoDBStore, type SessionLike, SessionRepository } from '../lib/index.js';
import type { SessionRepositoryOptions } from '../lib/options/options.js';
import { commandsDuring, useSpecDatabase } from './support/database.js';

interface Account extends SessionLike {
  cookie?: { expires?: Date | null };
  user?: { id: number; name?: string };
  views?: number;
}

/** A stored document as the spec reads and writes it by hand. */
interface RawDocument {
  _id: string;
  // biome-ignore lint/suspicious/noExplicitAny: the spec reads whatever fields the store wrote.
  [field: string]: any;
}

const HOUR = 60 * 60 * 1000;
const inAnHour = () => ({ expires: new Date(Date.now() + HOUR) });

const database = useSpecDatabase(import.meta.url);
let collectionCount = 0;

/** A repository on a collection of its own, over the spec's monitored client; closed when `t` ends. */
function repositoryFor(t: TestContext, options: SessionRepositoryOptions = {}) {
  collectionCount += 1;
  const collection = `lifecycle_${collectionCount}`;
  const refused: Array<[string, string]> = [];
  const repository = new SessionRepository<Account>(
    {
      client: database.client,
      databaseName: database.databaseName,
      collection,
      autoRemove: 'disabled',
      manageIndexes: false,
      ...options,
    },
    { refused: (sid, operation) => refused.push([sid, operation]) },
  );
  t.after(() => repository.close());
  return { repository, raw: database.db.collection<RawDocument>(collection), refused };
}

/** Makes the stored session `id` look first written `ms` ago, as if it had lived that long. */
async function age(raw: ReturnType<typeof repositoryFor>['raw'], id: string, ms: number) {
  await raw.updateOne({ _id: id }, { $set: { createdAt: new Date(Date.now() - ms) } });
}

describe('absolute lifetime', () => {
  test('a session in steady use ends once absoluteTimeoutMs has passed since its first write', async (t) => {
    const { repository, raw, refused } = repositoryFor(t, {
      absoluteTimeoutMs: 400,
      touchAfterMs: 0,
    });
    const started = Date.now();
    await repository.set('busy', { cookie: inAnHour(), views: 0 });
    // The creation time the server stored lies between these two.
    const created = Date.now();
    let views = 0;
    let lastSuccessSent = started;
    // A request every 20 ms, each reading, writing and touching the session, until one is refused.
    const steps: Array<() => Promise<boolean>> = [
      async () => (await repository.get('busy')) !== null,
      async () => (await repository.set('busy', { cookie: inAnHour(), views })) === 'updated',
      () => repository.touch('busy', { cookie: inAnHour(), views }),
    ];
    let ended = false;
    while (!ended) {
      for (const step of steps) {
        const sent = Date.now();
        if (!(await step())) {
          ended = true;
          break;
        }
        lastSuccessSent = sent;
      }
      views += 1;
      assert.ok(Date.now() - started < 5_000, 'the session ends in bounded time');
      await delay(20);
    }
    const endedAfter = Date.now() - started;
    t.diagnostic(
      `served ${views} requests; the first refusal ${endedAfter} ms after the first write`,
    );
    assert.ok(lastSuccessSent < created + 400, 'nothing succeeds once 400 ms have passed');
    assert.ok(endedAfter >= 400, 'everything succeeds until then');
    assert.ok(views > 3, 'the activity was steady');
    assert.equal(await repository.get('busy'), null);
    assert.equal(await repository.set('busy', { cookie: inAnHour(), views }), 'refused');
    assert.equal(await repository.touch('busy', { cookie: inAnHour(), views }), false);
    assert.deepEqual(refused.slice(-2), [
      ['busy', 'set'],
      ['busy', 'touch'],
    ]);
    const stored = await raw.findOne({ _id: 'busy' });
    assert.ok(stored?.endedAt instanceof Date, 'the read that found it too old ended it');
    assert.equal(stored?.session, null, 'and nothing of the session is left');
  });

  test('set and touch never move the creation time', async (t) => {
    const { repository, raw } = repositoryFor(t, { touchAfterMs: 0 });
    await repository.set('s', { cookie: inAnHour(), views: 1 });
    const first = await raw.findOne({ _id: 's' });
    assert.ok(first?.createdAt instanceof Date);
    assert.ok(first?.lastModified instanceof Date);
    await delay(5);
    await repository.set('s', { cookie: inAnHour(), views: 2 });
    await delay(5);
    await repository.touch('s', { cookie: { expires: new Date(Date.now() + 2 * HOUR) } });
    const later = await raw.findOne({ _id: 's' });
    assert.deepEqual(later?.createdAt, first?.createdAt, 'createdAt stays');
    assert.ok(later?.lastModified > first?.lastModified, 'lastModified moves with each write');
  });

  test('a session older than the lifetime is refused by set and touch even before a read ends it', async (t) => {
    const { repository, raw, refused } = repositoryFor(t, { absoluteTimeoutMs: HOUR });
    await repository.set('old', { cookie: inAnHour(), views: 1 });
    await age(raw, 'old', HOUR + 1_000);
    assert.equal(await repository.set('old', { cookie: inAnHour(), views: 2 }), 'refused');
    assert.equal(await repository.touch('old', { cookie: inAnHour() }), false);
    assert.deepEqual(refused, [
      ['old', 'set'],
      ['old', 'touch'],
    ]);
    assert.equal(await repository.length(), 0, 'not counted');
    assert.deepEqual(await repository.ids(), [], 'not listed');
    assert.equal(await repository.get('old'), null, 'not served');
    assert.equal(
      await repository.set('old', { cookie: inAnHour(), views: 3 }),
      'refused',
      'and once read, ended for good: not stored again with a new creation time',
    );
  });

  test('sessions stored before the option (no creation time) start their clock at their next write', async (t) => {
    const { repository, raw } = repositoryFor(t, { absoluteTimeoutMs: HOUR });
    const expires = new Date(Date.now() + HOUR);
    await raw.insertOne({ _id: 'legacy', session: { views: 7 }, expires });
    assert.equal((await repository.get('legacy'))?.views, 7, 'still served');
    const before = Date.now();
    assert.equal(await repository.set('legacy', { cookie: inAnHour(), views: 8 }), 'updated');
    const stored = await raw.findOne({ _id: 'legacy' });
    assert.ok(stored?.createdAt instanceof Date && stored.createdAt.getTime() >= before - 1);
  });
});

describe('the termination window', () => {
  test('an ended id is kept for terminationWindowMs, then expires like a session and can be stored again', async (t) => {
    const { repository, raw } = repositoryFor(t, { terminationWindowMs: 300 });
    await repository.set('s', { cookie: inAnHour(), views: 1 });
    const ended = Date.now();
    await repository.destroy('s');
    const record = await raw.findOne({ _id: 's' });
    assert.ok(record?.endedAt instanceof Date);
    const window = record?.expires.getTime() - record?.endedAt.getTime();
    assert.equal(window, 300, 'the record expires when the window ends');
    assert.equal(await repository.set('s', { cookie: inAnHour(), views: 2 }), 'refused');
    // The sweep (or the TTL monitor) removes the record like any expired session.
    let swept = 0;
    while (swept === 0) {
      assert.ok(Date.now() - ended < 5_000, 'the record goes in bounded time');
      await delay(25);
      swept = await repository.deleteExpired();
    }
    assert.ok(Date.now() - ended >= 300, 'not before the window ends');
    assert.equal(swept, 1);
    assert.equal(await repository.set('s', { cookie: inAnHour(), views: 3 }), 'created');
    assert.equal((await repository.get('s'))?.views, 3);
  });

  test('the Cosmos DB mode gives a record its own time to live, so it outlasts a shorter session TTL', async (t) => {
    const { repository, raw } = repositoryFor(t, {
      expiresKey: '_ts',
      terminationWindowMs: 90_500,
    });
    await repository.destroy('s');
    const record = await raw.findOne({ _id: 's' });
    assert.equal(record?.ttl, 91, 'seconds, rounded up');
    assert.ok(record?.expires instanceof Date, 'the store keeps its own expiry in `expires`');
  });
});

describe("a user's devices", () => {
  async function annOnThree(repository: SessionRepository<Account>) {
    for (const device of ['laptop', 'phone', 'tablet']) {
      await repository.set(`ann-${device}`, { cookie: inAnHour(), user: { id: 7, name: 'ann' } });
    }
    await repository.set('bob-laptop', { cookie: inAnHour(), user: { id: 8, name: 'bob' } });
  }

  test('listWhere gives each of a user’s sessions with its times and a handle that is not its id', async (t) => {
    const { repository } = repositoryFor(t, { touchAfterMs: 0 });
    const before = Date.now();
    await annOnThree(repository);
    await delay(5);
    await repository.touch('ann-phone', { cookie: { expires: new Date(Date.now() + 2 * HOUR) } });
    const listed = await repository.listWhere({ 'user.id': 7 });
    assert.equal(listed.length, 3);
    const handles = new Set(listed.map((item) => item.handle));
    assert.equal(handles.size, 3, 'one handle a session');
    const sids = ['ann-laptop', 'ann-phone', 'ann-tablet'];
    assert.deepEqual(
      [...handles].sort(),
      sids.map((sid) => repository.handleOf(sid)).sort(),
      'handleOf(sid) gives the handle listWhere shows for it',
    );
    const printed = JSON.stringify(listed);
    for (const sid of sids) assert.ok(!printed.includes(sid), 'no session id in the list');
    for (const item of listed) {
      assert.equal(item.session.user?.name, 'ann');
      assert.ok(item.createdAt instanceof Date && item.createdAt.getTime() >= before - 1);
      assert.ok(item.lastActiveAt instanceof Date && item.lastActiveAt >= item.createdAt);
      assert.ok(item.expires instanceof Date && item.expires.getTime() > Date.now());
    }
    const phone = listed.find((item) => item.handle === repository.handleOf('ann-phone'));
    assert.ok(phone?.lastActiveAt && phone.createdAt && phone.lastActiveAt > phone.createdAt);
    assert.ok(phone.expires.getTime() > Date.now() + HOUR, 'the touch moved its expiry');
  });

  test('a predicate lists what it selects; sessions stored before this version have no times', async (t) => {
    const { repository, raw } = repositoryFor(t);
    await annOnThree(repository);
    await raw.insertOne({
      _id: 'ann-old',
      session: { user: { id: 7, name: 'ann' } },
      expires: new Date(Date.now() + HOUR),
    });
    const listed = await repository.listWhere(async (session) => session.user?.id === 7);
    assert.equal(listed.length, 4);
    const old = listed.find((item) => item.handle === repository.handleOf('ann-old'));
    assert.deepEqual([old?.createdAt, old?.lastActiveAt], [null, null]);
  });

  test('sign out this device: destroyWhere(filter, { only: handle }) ends that session alone, for good', async (t) => {
    const { repository } = repositoryFor(t);
    await annOnThree(repository);
    const phone = repository.handleOf('ann-phone');
    assert.equal(await repository.destroyWhere({ 'user.id': 7 }, { only: phone }), 1);
    assert.equal(await repository.get('ann-phone'), null);
    assert.equal(await repository.set('ann-phone', { cookie: inAnHour() }), 'refused');
    assert.deepEqual((await repository.ids()).sort(), ['ann-laptop', 'ann-tablet', 'bob-laptop']);
  });

  test('sign out everywhere else: { except: handleOf(current) } keeps the current session only', async (t) => {
    const { repository } = repositoryFor(t);
    await annOnThree(repository);
    const current = repository.handleOf('ann-laptop');
    assert.equal(await repository.destroyWhere({ 'user.id': 7 }, { except: current }), 2);
    assert.deepEqual((await repository.ids()).sort(), ['ann-laptop', 'bob-laptop']);
  });

  test("a handle of another user's session ends nothing outside the filter", async (t) => {
    const { repository } = repositoryFor(t);
    await annOnThree(repository);
    const bob = repository.handleOf('bob-laptop');
    assert.equal(await repository.destroyWhere({ 'user.id': 7 }, { only: [bob] }), 0);
    assert.equal((await repository.get('bob-laptop'))?.user?.name, 'bob');
  });

  test('with encryption the times are stored in clear, and a predicate lists and revokes devices', async (t) => {
    const { repository, raw } = repositoryFor(t, {
      encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] },
    });
    await annOnThree(repository);
    const stored = await raw.findOne({ _id: 'ann-phone' });
    assert.ok(stored?.createdAt instanceof Date && stored.lastModified instanceof Date);
    assert.ok(!JSON.stringify(stored?.session).includes('ann'), 'the session itself is sealed');
    await assert.rejects(repository.listWhere({ 'user.id': 7 }), /`encryption`.*predicate/);
    const listed = await repository.listWhere((session) => session.user?.id === 7);
    assert.equal(listed.length, 3);
    const [first] = listed;
    assert.ok(first !== undefined);
    const ended = await repository.destroyWhere((session) => session.user?.id === 7, {
      only: first.handle,
    });
    assert.equal(ended, 1);
    assert.equal((await repository.listWhere((session) => session.user?.id === 7)).length, 2);
  });

  test('with hashSessionId a handle revokes a device without the cookie it came from', async (t) => {
    const { repository, raw } = repositoryFor(t, {
      transformId: hashSessionId(randomBytes(32)),
    });
    await annOnThree(repository);
    // An account page keeps only what listWhere gave: no session id reaches this point.
    const listed = await repository.listWhere({ 'user.id': 7 });
    const target = listed.find((item) => item.handle === repository.handleOf('ann-tablet'));
    assert.ok(target !== undefined);
    assert.equal(await repository.destroyWhere({ 'user.id': 7 }, { only: target.handle }), 1);
    assert.equal(await repository.get('ann-tablet'), null);
    assert.equal(await repository.set('ann-tablet', { cookie: inAnHour() }), 'refused');
    assert.equal(await raw.countDocuments({ endedAt: { $exists: true } }), 1);
  });

  const refusals: Array<[string, unknown, RegExp]> = [
    ['an empty filter', {}, /`listWhere`.*at least one condition/],
    ['$where', { $where: 'true' }, /`listWhere`/],
    ['an undefined value', { 'user.id': undefined }, /`listWhere`/],
  ];
  for (const [label, filter, message] of refusals) {
    test(`listWhere refuses ${label} with a TypeError before anything is sent`, async (t) => {
      const { repository } = repositoryFor(t);
      await annOnThree(repository);
      const sent = await commandsDuring(database.client, async () => {
        await assert.rejects(repository.listWhere(filter as never), (error: unknown) => {
          assert.ok(error instanceof TypeError);
          assert.match(error.message, message);
          return true;
        });
      });
      assert.deepEqual(sent, []);
      assert.equal((await repository.listWhere({ 'user.id': 8 })).length, 1, 'and goes on');
    });
  }

  const badSelections: Array<[string, unknown]> = [
    ['a number', { only: 5 }],
    ['an empty handle', { except: '' }],
    ['a list with a number', { only: ['x', 1] }],
    ['a string', 'handle'],
  ];
  for (const [label, selection] of badSelections) {
    test(`destroyWhere refuses a selection with ${label}, before anything is sent`, async (t) => {
      const { repository } = repositoryFor(t);
      await annOnThree(repository);
      const sent = await commandsDuring(database.client, async () => {
        await assert.rejects(
          repository.destroyWhere({ 'user.id': 7 }, selection as never),
          (error: unknown) => error instanceof TypeError && /selection/.test(error.message),
        );
      });
      assert.deepEqual(sent, []);
      assert.equal(await repository.length(), 4, 'nothing ended');
    });
  }
});

describe('the store’s forms', () => {
  test('listWhere, handleOf and destroyWhere with a selection, as promises and with callbacks', async (t) => {
    collectionCount += 1;
    const store = new MongoDBStore({
      client: database.client,
      databaseName: database.databaseName,
      collection: `lifecycle_${collectionCount}`,
      autoRemove: 'disabled',
      manageIndexes: false,
    });
    t.after(() => store.close());
    const cookie = inAnHour();
    for (const device of ['laptop', 'phone', 'tablet']) {
      await store.set(`ann-${device}`, { cookie, user: 'ann' } as unknown as SessionData);
    }
    const listed = await store.listWhere({ user: 'ann' });
    assert.equal(listed.length, 3);
    const viaCallback = await new Promise<number>((resolve, reject) =>
      store.listWhere({ user: 'ann' }, (error, items) =>
        error ? reject(error) : resolve(items.length),
      ),
    );
    assert.equal(viaCallback, 3);
    const phone = store.handleOf('ann-phone');
    assert.ok(listed.some((item) => item.handle === phone));
    const ended = await new Promise<number>((resolve, reject) =>
      store.destroyWhere({ user: 'ann' }, { only: phone }, (error, count) =>
        error ? reject(error) : resolve(count),
      ),
    );
    assert.equal(ended, 1);
    const current = store.handleOf('ann-laptop');
    assert.equal(await store.destroyWhere({ user: 'ann' }, { except: current }), 1);
    assert.deepEqual(await store.ids(), ['ann-laptop']);
  });
});
