/**
 * Ending a session is final. Over real HTTP: a request of a session still running when the
 * session is logged out, regenerated at login, or revoked by `destroyWhere` (in this process or
 * in another) answers as usual, but its save or touch writes nothing, the store emits `refused`,
 * and the old cookie finds no session. Each race is made deterministic by holding the request on
 * a latch that the test opens. Then the same rule at the repository level, for every stored form,
 * and the ended sessions' records staying out of every read.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import express from 'express';
import session, { type SessionData } from 'express-session';
import { type CommandStartedEvent, type Document, MongoClient } from 'mongodb';
import {
  type DestroyFilter,
  hashSessionId,
  MongoDBStore,
  type MongoDBStoreOptions,
  type SessionLike,
  SessionRepository,
  type SessionRepositoryOptions,
} from '../lib/index.js';
import { commandsDuring, useSpecDatabase } from './support/database.js';
import { HttpClient, type HttpResponse, listen } from './support/http.js';
import { ROOT } from './support/sandbox.js';

declare module 'express-session' {
  interface SessionData {
    views?: number;
    user?: string;
  }
}

const COOKIE = 'connect.sid';
const HOUR_MS = 60 * 60 * 1000;
/** The second store process (see the file). */
const END_SESSIONS_PROGRAM = 'spec/support/end-sessions-program.ts';
/** The fields of an ended session's record, as the store keeps it with its default options. */
const TOMBSTONE_FIELDS = ['_id', 'endedAt', 'expires', 'session'];

const database = useSpecDatabase(import.meta.url);
let collectionCount = 0;

function nextCollection(prefix: string): string {
  collectionCount += 1;
  return `${prefix}_${collectionCount}`;
}

/** A promise the test resolves: what holds a request open, instead of a timer. */
interface Latch {
  readonly promise: Promise<void>;
  open(): void;
}

function latch(): Latch {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

interface SessionReply {
  readonly id: string;
  readonly views: number | null;
  readonly user: string | null;
}

/** A request the app has received and holds, its session read (and changed, on `/slow`). */
interface HeldRequest {
  /** Lets the request go on, and resolves with its response. */
  finish(): Promise<HttpResponse>;
}

type HeldPath = '/slow' | '/slow-peek';

interface App {
  readonly store: MongoDBStore;
  readonly url: string;
  readonly collection: string;
  /** Each `refused` event the store emitted, as `operation:sid`. */
  readonly refused: string[];
  /** The commands the store's client started, in order. */
  readonly commands: CommandStartedEvent[];
  /** The stored document of session `sid`, as it is in the collection, or null. */
  document(sid: string): Promise<Document | null>;
  /** Sends `GET path` with `browser`'s cookies; resolves once the app holds the request. */
  hold(browser: HttpClient, path: HeldPath): Promise<HeldRequest>;
}

/**
 * An Express app on a store of its own (its client monitored, its `refused` events recorded):
 * `GET /count` counts a view, `GET /peek` reads, `POST /login?user=` regenerates and stores the
 * user, `POST /logout` destroys. `GET /slow` counts a view and `GET /slow-peek` reads, then each
 * waits for the test to let it go on before answering, so that express-session saves (or
 * touches) the session after whatever the test did meanwhile. Closed when `t` ends.
 */
async function startApp(
  t: TestContext,
  options: { rolling?: boolean; store?: MongoDBStoreOptions } = {},
): Promise<App> {
  const collection = nextCollection('http');
  const client = new MongoClient(database.uri, { monitorCommands: true });
  const commands: CommandStartedEvent[] = [];
  client.on('commandStarted', (event) => commands.push(event));
  const store = new MongoDBStore({
    client,
    databaseName: database.databaseName,
    collection,
    ...options.store,
  });
  const refused: string[] = [];
  store.on('refused', (sid, operation) => refused.push(`${operation}:${sid}`));
  await store.repository.whenIndexed();

  const holds = new Map<string, { readonly arrived: Latch; readonly released: Latch }>();
  const heldHere = async (req: express.Request): Promise<void> => {
    const held = holds.get(String(req.query.hold));
    if (held === undefined) throw new Error(`${req.path} needs ?hold= of a held request`);
    held.arrived.open();
    await held.released.promise;
  };

  const app = express();
  app.use(
    session({
      store,
      secret: 'termination spec secret',
      resave: false,
      saveUninitialized: false,
      rolling: options.rolling ?? false,
      cookie: { maxAge: HOUR_MS, httpOnly: true },
    }),
  );
  const reply = (req: express.Request): SessionReply => ({
    id: req.sessionID,
    views: req.session.views ?? null,
    user: req.session.user ?? null,
  });
  app.get('/count', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    res.json(reply(req));
  });
  app.get('/peek', (req, res) => {
    res.json(reply(req));
  });
  app.get('/slow', async (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    await heldHere(req);
    res.json(reply(req));
  });
  app.get('/slow-peek', async (req, res) => {
    await heldHere(req);
    res.json(reply(req));
  });
  app.post('/login', (req, res, next) => {
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.user = String(req.query.user ?? 'dave');
      req.session.save((saveError) => (saveError ? next(saveError) : res.json(reply(req))));
    });
  });
  app.post('/logout', (req, res, next) => {
    req.session.destroy((error) => {
      if (error) return next(error);
      res.clearCookie(COOKIE);
      res.json({ destroyed: true });
    });
  });

  const server = await listen(app);
  t.after(async () => {
    for (const held of holds.values()) held.released.open();
    await server.close();
    await store.close();
    await client.close();
  });
  const sessions = database.db.collection(collection);
  let holdCount = 0;
  return {
    store,
    url: server.url,
    collection,
    refused,
    commands,
    document: (sid) => sessions.findOne({ _id: sid } as Document),
    hold: async (browser, path) => {
      holdCount += 1;
      const key = String(holdCount);
      const held = { arrived: latch(), released: latch() };
      holds.set(key, held);
      const response = browser.get(`${path}?hold=${key}`);
      await Promise.race([
        held.arrived.promise,
        response.then((early) => {
          throw new Error(`${path} answered ${early.status} before it was held: ${early.body}`);
        }),
      ]);
      return {
        finish: () => {
          held.released.open();
          return response;
        },
      };
    },
  };
}

function replyOf(response: HttpResponse): SessionReply {
  assert.equal(response.status, 200, response.body);
  return JSON.parse(response.body) as SessionReply;
}

async function json(client: HttpClient, method: 'GET' | 'POST', path: string) {
  return replyOf(await client.request(method, path));
}

/** A browser whose jar holds `browser`'s session cookie: another tab of the same visitor. */
function anotherTab(app: App, browser: HttpClient): HttpClient {
  const tab = new HttpClient(app.url);
  tab.setCookie(COOKIE, cookieOf(browser));
  return tab;
}

function cookieOf(browser: HttpClient): string {
  const cookie = browser.cookie(COOKIE);
  assert.ok(cookie !== undefined, 'the browser has a session cookie');
  return cookie;
}

/** A visitor who has logged in as `user`, with their session id. */
async function loggedIn(app: App, user = 'dave') {
  const browser = new HttpClient(app.url);
  const { id } = await json(browser, 'POST', `/login?user=${user}`);
  return { browser, sid: id };
}

/**
 * The session `sid` stays ended: a request with its old cookie gets a new, empty session, and
 * the store finds none.
 */
async function assertLoggedOut(app: App, oldCookie: string, sid: string): Promise<void> {
  const replay = new HttpClient(app.url);
  replay.setCookie(COOKIE, oldCookie);
  const reply = await json(replay, 'GET', '/peek');
  assert.notEqual(reply.id, sid, 'the old cookie is given a new session');
  assert.equal(reply.views, null, 'the new session has no views');
  assert.equal(reply.user, null, 'the new session has no user');
  assert.equal(await app.store.get(sid), null, 'the store has no session for the old id');
}

/** The stored document of `sid` is still the record of an ended session: no session, no times. */
async function assertTombstone(app: App, sid: string): Promise<void> {
  const document = await app.document(sid);
  assert.ok(document !== null, 'the ended session leaves a record');
  assert.deepEqual(Object.keys(document).sort(), TOMBSTONE_FIELDS);
  assert.ok(document.endedAt instanceof Date);
}

const ENDINGS: ReadonlyArray<readonly [string, DestroyFilter<SessionData>]> = [
  ['a filter over session fields', { user: 'dave' }],
  ['a predicate', (session: SessionData) => session.user === 'dave'],
];

describe('a request still running when its session ends does not store it again', () => {
  test('logout in another tab during a request: the request answers, its save is refused, and the old cookie finds no session', async (t) => {
    const app = await startApp(t);
    const browser = new HttpClient(app.url);
    const { id: sid } = await json(browser, 'GET', '/count');
    const oldCookie = cookieOf(browser);
    const slow = await app.hold(browser, '/slow');

    assert.equal((await anotherTab(app, browser).post('/logout')).status, 200);
    const reply = replyOf(await slow.finish());

    assert.equal(reply.views, 2, 'the request saw and changed its session');
    assert.deepEqual(app.refused, [`set:${sid}`]);
    await assertTombstone(app, sid);
    await assertLoggedOut(app, oldCookie, sid);
  });

  test('the save refused after logout sends only updates that match no ended session: no insert, no delete', async (t) => {
    const app = await startApp(t);
    const browser = new HttpClient(app.url);
    const { id: sid } = await json(browser, 'GET', '/count');
    const slow = await app.hold(browser, '/slow');
    assert.equal((await anotherTab(app, browser).post('/logout')).status, 200);
    app.commands.length = 0;

    replyOf(await slow.finish());

    const names = new Set(app.commands.map((event) => event.commandName));
    assert.deepEqual([...names], ['update']);
    for (const { command } of app.commands) {
      for (const statement of command.updates as Document[]) {
        assert.equal(statement.q._id, sid);
        assert.deepEqual(
          statement.q.endedAt,
          { $exists: false },
          'the filter skips ended sessions',
        );
      }
    }
  });

  test('login (regenerate) in another tab during a request: the old session stays ended, and the new one holds the user', async (t) => {
    const app = await startApp(t);
    const browser = new HttpClient(app.url);
    const { id: sid } = await json(browser, 'GET', '/count');
    const oldCookie = cookieOf(browser);
    const slow = await app.hold(browser, '/slow');
    const loginTab = anotherTab(app, browser);

    const login = await json(loginTab, 'POST', '/login?user=dave');
    replyOf(await slow.finish());

    assert.notEqual(login.id, sid, 'login gave a new session id');
    assert.deepEqual(app.refused, [`set:${sid}`]);
    await assertLoggedOut(app, oldCookie, sid);
    const after = await json(loginTab, 'GET', '/peek');
    assert.equal(after.id, login.id);
    assert.equal(after.user, 'dave', 'the new session holds the user');
    assert.equal(after.views, null, 'nothing of the old session came along');
  });

  for (const [form, filter] of ENDINGS) {
    test(`destroyWhere by ${form} during a request: the request answers, its save is refused, and the old cookie finds no session`, async (t) => {
      const app = await startApp(t);
      const { browser, sid } = await loggedIn(app);
      const oldCookie = cookieOf(browser);
      const slow = await app.hold(browser, '/slow');

      const count = await app.store.destroyWhere(filter);
      const reply = replyOf(await slow.finish());

      assert.equal(count, 1);
      assert.equal(reply.user, 'dave', 'the request ran as the user');
      assert.deepEqual(app.refused, [`set:${sid}`]);
      await assertTombstone(app, sid);
      await assertLoggedOut(app, oldCookie, sid);
    });
  }

  test('a request that only reads its session, running at logout, has its touch refused, and the session stays unreadable', async (t) => {
    // rolling: the cookie is sent again; touchAfterMs 0: every touch is sent.
    const app = await startApp(t, { rolling: true, store: { touchAfterMs: 0 } });
    const browser = new HttpClient(app.url);
    const { id: sid } = await json(browser, 'GET', '/count');
    const oldCookie = cookieOf(browser);
    const slow = await app.hold(browser, '/slow-peek');

    assert.equal((await anotherTab(app, browser).post('/logout')).status, 200);
    const reply = replyOf(await slow.finish());

    assert.equal(reply.views, 1, 'the request read its session');
    assert.deepEqual(app.refused, [`touch:${sid}`]);
    await assertTombstone(app, sid);
    await assertLoggedOut(app, oldCookie, sid);
  });

  test('a request that only reads its session, running at destroyWhere, has its touch refused, and the session stays unreadable', async (t) => {
    const app = await startApp(t, { rolling: true, store: { touchAfterMs: 0 } });
    const { browser, sid } = await loggedIn(app);
    const oldCookie = cookieOf(browser);
    const slow = await app.hold(browser, '/slow-peek');

    assert.equal(await app.store.destroyWhere({ user: 'dave' }), 1);
    replyOf(await slow.finish());

    assert.deepEqual(app.refused, [`touch:${sid}`]);
    await assertTombstone(app, sid);
    await assertLoggedOut(app, oldCookie, sid);
  });

  for (const [form, filter] of ENDINGS) {
    test(`log out everywhere by ${form}: five of dave's sessions, each with a request running, all stay logged out, and another user stays logged in`, async (t) => {
      const app = await startApp(t);
      const daves = await Promise.all(Array.from({ length: 5 }, () => loggedIn(app, 'dave')));
      const erin = await loggedIn(app, 'erin');
      const held = await Promise.all(daves.map(({ browser }) => app.hold(browser, '/slow')));

      const count = await app.store.destroyWhere(filter);
      const responses = await Promise.all(held.map((request) => request.finish()));

      assert.equal(count, 5);
      for (const response of responses) assert.equal(replyOf(response).user, 'dave');
      const sids = daves.map(({ sid }) => sid);
      assert.deepEqual(app.refused.sort(), sids.map((sid) => `set:${sid}`).sort());
      for (const { browser, sid } of daves) await assertLoggedOut(app, cookieOf(browser), sid);
      const stillErin = await json(erin.browser, 'GET', '/peek');
      assert.deepEqual([stillErin.id, stillErin.user], [erin.sid, 'erin']);
    });
  }

  test('sign out everywhere else: the running request of the current device stores its session, those of the others are refused', async (t) => {
    const app = await startApp(t);
    const [current, ...others] = await Promise.all(
      Array.from({ length: 3 }, () => loggedIn(app, 'dave')),
    );
    assert.ok(current !== undefined);
    const held = await Promise.all(
      [current, ...others].map(({ browser }) => app.hold(browser, '/slow')),
    );

    const count = await app.store.destroyWhere(
      { user: 'dave' },
      { except: app.store.handleOf(current.sid) },
    );
    await Promise.all(held.map(async (request) => replyOf(await request.finish())));

    assert.equal(count, 2);
    assert.deepEqual(app.refused.sort(), others.map(({ sid }) => `set:${sid}`).sort());
    const kept = await json(current.browser, 'GET', '/peek');
    assert.deepEqual([kept.id, kept.user, kept.views], [current.sid, 'dave', 1]);
    for (const { browser, sid } of others) await assertLoggedOut(app, cookieOf(browser), sid);
  });
});

const runFile = promisify(execFile);

/**
 * Runs the second store process (spec/support/end-sessions-program.ts) on `app`'s collection and
 * resolves with the JSON line it printed; rejects if it fails or outlasts 30 seconds.
 */
async function endInAnotherProcess(app: App, end: string): Promise<unknown> {
  const { stdout } = await runFile(process.execPath, ['--import', 'tsx', END_SESSIONS_PROGRAM], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      MONGODB_URI: database.uri,
      SPEC_DATABASE: database.databaseName,
      SPEC_COLLECTION: app.collection,
      END: end,
    },
    timeout: 30_000,
    killSignal: 'SIGKILL',
  });
  return JSON.parse(stdout.trim());
}

describe('the same holds from a second store process on the same collection', () => {
  test("logout by another process: this process's running request is refused its save, and the old cookie finds no session", async (t) => {
    const app = await startApp(t);
    const { browser, sid } = await loggedIn(app);
    const oldCookie = cookieOf(browser);
    const slow = await app.hold(browser, '/slow');

    const printed = await endInAnotherProcess(app, `destroy:${sid}`);
    replyOf(await slow.finish());

    assert.deepEqual(printed, { destroyed: sid });
    assert.deepEqual(app.refused, [`set:${sid}`]);
    await assertTombstone(app, sid);
    await assertLoggedOut(app, oldCookie, sid);
  });

  test("destroyWhere by another process: this process's running request is refused its save, and the old cookie finds no session", async (t) => {
    const app = await startApp(t);
    const { browser, sid } = await loggedIn(app);
    const oldCookie = cookieOf(browser);
    const slow = await app.hold(browser, '/slow');

    const printed = await endInAnotherProcess(app, 'user:dave');
    replyOf(await slow.finish());

    assert.deepEqual(printed, { count: 1 });
    assert.deepEqual(app.refused, [`set:${sid}`]);
    await assertTombstone(app, sid);
    await assertLoggedOut(app, oldCookie, sid);
  });
});

interface Visit extends SessionLike {
  cookie: { expires: Date; originalMaxAge: number };
  views?: number;
  user?: string;
}

function visit(fields: Omit<Visit, 'cookie'> = { views: 1, user: 'dave' }): Visit {
  return {
    cookie: { expires: new Date(Date.now() + HOUR_MS), originalMaxAge: HOUR_MS },
    ...fields,
  };
}

/**
 * A repository on a collection of its own over the spec's monitored client, its indexes ensured,
 * its refusals recorded as `operation:sid` and its unreadable sessions counted; closed when `t`
 * ends.
 */
async function openRepository(t: TestContext, options: SessionRepositoryOptions = {}) {
  const collection = nextCollection('repository');
  const refused: string[] = [];
  const unreadable: unknown[] = [];
  const repository = new SessionRepository<Visit>(
    {
      client: database.client,
      databaseName: database.databaseName,
      collection,
      autoRemove: 'disabled',
      ...options,
    },
    {
      refused: (sid, operation) => refused.push(`${operation}:${sid}`),
      unreadable: (error) => unreadable.push(error),
    },
  );
  t.after(() => repository.close());
  await repository.whenIndexed();
  return { repository, refused, unreadable, raw: database.db.collection(collection) };
}

const STORED_FORMS: ReadonlyArray<readonly [string, SessionRepositoryOptions]> = [
  ['the default form', {}],
  ["serializer: 'json'", { serializer: 'json' }],
  ['encryption', { encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] } }],
  ['transformId: hashSessionId', { transformId: hashSessionId(randomBytes(32).toString('hex')) }],
  ["idField: 'sid' and expiresKey: 'expiresAt'", { idField: 'sid', expiresKey: 'expiresAt' }],
  ["the Cosmos DB mode (expiresKey: '_ts')", { expiresKey: '_ts' }],
];

describe('the repository: an ended session is not stored again', () => {
  for (const [form, options] of STORED_FORMS) {
    test(`${form}: after destroy, set resolves 'refused' and writes nothing, and get resolves null`, async (t) => {
      const { repository, refused, raw } = await openRepository(t, options);
      if (options.idField !== undefined) assert.equal(repository.indexes.unique, 'ensured');
      assert.equal(await repository.set('sid-1', visit()), 'created');
      assert.equal((await repository.get('sid-1'))?.user, 'dave');

      await repository.destroy('sid-1');
      const [tombstone] = await raw.find({}).toArray();
      const outcome = await repository.set('sid-1', visit({ views: 2, user: 'dave' }));

      assert.equal(outcome, 'refused');
      assert.equal(await repository.get('sid-1'), null);
      assert.deepEqual(refused, ['set:sid-1']);
      assert.ok(tombstone?.endedAt instanceof Date, 'destroy left the record of an ended session');
      assert.equal(tombstone.session, null, 'the record holds no session');
      assert.deepEqual(await raw.find({}).toArray(), [tombstone], 'the refused set wrote nothing');
    });
  }

  test('destroy of an id never stored keeps a later set of it from storing anything', async (t) => {
    const { repository, refused } = await openRepository(t);

    await repository.destroy('never-stored');

    assert.equal(await repository.set('never-stored', visit()), 'refused');
    assert.equal(await repository.get('never-stored'), null);
    assert.deepEqual(refused, ['set:never-stored']);
  });

  test('destroy of several ids at once ends each of them, stored or not', async (t) => {
    const { repository, refused } = await openRepository(t);
    await repository.set('a', visit());
    await repository.set('b', visit());

    await repository.destroy(['a', 'b', 'c']);

    for (const sid of ['a', 'b', 'c']) {
      assert.equal(await repository.set(sid, visit()), 'refused', sid);
      assert.equal(await repository.get(sid), null, sid);
    }
    assert.deepEqual(refused, ['set:a', 'set:b', 'set:c']);
  });

  test('a set refused once is refused again: the record of the end does not wear off with use', async (t) => {
    const { repository, raw } = await openRepository(t);
    await repository.set('sid-1', visit());
    await repository.destroy('sid-1');
    const before = await raw.find({}).toArray();

    const outcomes = [
      await repository.set('sid-1', visit()),
      await repository.set('sid-1', visit()),
      await repository.set('sid-1', visit()),
    ];

    assert.deepEqual(outcomes, ['refused', 'refused', 'refused']);
    assert.deepEqual(await raw.find({}).toArray(), before);
  });

  test('touch after destroy resolves false, is reported as refused, and does not bring the session back', async (t) => {
    const { repository, refused, raw } = await openRepository(t);
    await repository.set('sid-1', visit());
    await repository.destroy('sid-1');
    const before = await raw.find({}).toArray();

    const touched = await repository.touch('sid-1', visit());

    assert.equal(touched, false);
    assert.deepEqual(refused, ['touch:sid-1']);
    assert.equal(await repository.get('sid-1'), null);
    assert.deepEqual(await raw.find({}).toArray(), before, 'the refused touch wrote nothing');
  });

  test('after clear(), an ended id can be stored again', async (t) => {
    const { repository } = await openRepository(t);
    await repository.set('sid-1', visit());
    await repository.destroy('sid-1');

    await repository.clear();

    assert.equal(await repository.set('sid-1', visit({ views: 7 })), 'created');
    assert.equal((await repository.get('sid-1'))?.views, 7);
  });

  for (const windowMs of [undefined, 5 * 60 * 1000]) {
    const named = windowMs === undefined ? 'one hour by default' : 'five minutes when asked';
    test(`the record of an ended session expires terminationWindowMs after the end: ${named}`, async (t) => {
      const { repository, raw } = await openRepository(t, { terminationWindowMs: windowMs });
      const expected = windowMs ?? HOUR_MS;
      const before = Date.now();
      await repository.destroy('sid-1');
      const after = Date.now();

      const [tombstone] = await raw.find({}).toArray();

      assert.ok(tombstone?.endedAt instanceof Date && tombstone.expires instanceof Date);
      assert.equal(tombstone.expires.getTime() - tombstone.endedAt.getTime(), expected);
      assert.ok(tombstone.endedAt.getTime() >= before && tombstone.endedAt.getTime() <= after);
    });
  }

  test('once the window has passed, the sweep removes the record, and the id can be stored again', async (t) => {
    const { repository } = await openRepository(t, { terminationWindowMs: 50 });
    await repository.set('sid-1', visit());
    await repository.destroy('sid-1');
    assert.equal(await repository.set('sid-1', visit()), 'refused', 'refused within the window');

    const deadline = Date.now() + 10_000;
    let swept = 0;
    while (swept === 0 && Date.now() < deadline) {
      swept = await repository.deleteExpired();
      if (swept === 0) await delay(10);
    }

    assert.equal(swept, 1, 'the sweep removed the expired record');
    assert.equal(await repository.set('sid-1', visit({ views: 3 })), 'created');
    assert.equal((await repository.get('sid-1'))?.views, 3);
  });

  test('destroy sends one upserting update that empties the document, never a delete', async (t) => {
    const { repository } = await openRepository(t);
    await repository.set('sid-1', visit());

    const commands = await commandsDuring(database.client, () => repository.destroy('sid-1'));

    assert.deepEqual(
      commands.map((event) => event.commandName),
      ['update'],
    );
    const [statement] = (commands[0]?.command.updates ?? []) as Document[];
    assert.ok(statement !== undefined);
    assert.equal(statement.q._id, 'sid-1');
    assert.equal(statement.upsert, true);
    assert.ok(statement.u.$set.endedAt instanceof Date);
    assert.equal(statement.u.$set.session, null, 'the session is removed from the document');
  });

  test('a set of a brand-new id stays one command: one upsert, which records the audit times', async (t) => {
    const { repository } = await openRepository(t);

    const commands = await commandsDuring(database.client, () => repository.set('new', visit()));

    assert.deepEqual(
      commands.map((event) => event.commandName),
      ['update'],
    );
    const [statement] = (commands[0]?.command.updates ?? []) as Document[];
    assert.equal(statement?.upsert, true);
    assert.ok(statement?.u.$set.lastModified instanceof Date);
    assert.ok(statement?.u.$min.createdAt instanceof Date);
  });

  test('a refused set sends only updates restricted to sessions that have not ended', async (t) => {
    const { repository } = await openRepository(t);
    await repository.destroy('sid-1');

    const commands = await commandsDuring(database.client, () => repository.set('sid-1', visit()));

    assert.ok(commands.length > 0);
    for (const { commandName, command } of commands) {
      assert.equal(commandName, 'update');
      for (const statement of command.updates as Document[]) {
        assert.deepEqual(statement.q.endedAt, { $exists: false });
      }
    }
  });
});

type Repository = SessionRepository<Visit>;

/** The sessions `listWhere` listed, `'live'` for the live session's handle. */
function handlesOf(repository: Repository, listed: ReadonlyArray<{ handle: string }>): string[] {
  return listed.map(({ handle }) => (handle === repository.handleOf('live') ? 'live' : handle));
}

/** What each way of reading (or counting) sessions makes of one live and one ended session of dave's. */
const READERS: ReadonlyArray<
  readonly [string, (repository: Repository) => Promise<unknown>, unknown]
> = [
  ['length()', (repository) => repository.length(), 1],
  ['ids()', (repository) => repository.ids(), ['live']],
  ['all()', async (repository) => (await repository.all()).map(({ id }) => id), ['live']],
  [
    'iteration with for await',
    async (repository) => {
      const ids: string[] = [];
      for await (const { id } of repository) ids.push(id);
      return ids;
    },
    ['live'],
  ],
  [
    'listWhere by a filter',
    async (repository) => handlesOf(repository, await repository.listWhere({ user: 'dave' })),
    ['live'],
  ],
  [
    'listWhere by a predicate',
    async (repository) => handlesOf(repository, await repository.listWhere(() => true)),
    ['live'],
  ],
  [
    "destroyWhere's count, by a filter",
    (repository) => repository.destroyWhere({ user: 'dave' }),
    1,
  ],
  [
    "destroyWhere's count, by a predicate",
    (repository) => repository.destroyWhere((session) => session.user === 'dave'),
    1,
  ],
  [
    "destroyWhere's count, by the handle of the ended session",
    (repository) => repository.destroyWhere(() => true, { only: repository.handleOf('ended') }),
    0,
  ],
];

describe('the record of an ended session is no session', () => {
  for (const [reader, read, expected] of READERS) {
    test(`${reader} does not see an ended session`, async (t) => {
      const { repository, unreadable } = await openRepository(t);
      await repository.set('live', visit());
      await repository.set('ended', visit());
      await repository.destroy('ended');

      assert.deepEqual(await read(repository), expected);
      assert.deepEqual(unreadable, [], 'left out by the query, not skipped as unreadable');
    });
  }

  test('a second destroyWhere of the same sessions counts none: ended sessions are not ended again', async (t) => {
    const { repository } = await openRepository(t);
    await repository.set('a', visit());
    await repository.set('b', visit());

    const first = await repository.destroyWhere({ user: 'dave' });
    const second = await repository.destroyWhere({ user: 'dave' });
    const third = await repository.destroyWhere(() => true);

    assert.deepEqual([first, second, third], [2, 0, 0]);
    assert.equal(await repository.length(), 0);
  });
});
