/**
 * `connect-mongodb-session/koa` (lib/koa.ts) under koa 3 and koa-session 7, over real HTTP: a
 * counter, login (regenerate), a protected route, logout, and what the repository gives every
 * adapter (lazy touch, hashed ids, encryption, ended sessions staying ended) working through it.
 * express-session is not loaded here: the koa entry does not need it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import Koa from 'koa';
import session from 'koa-session';
import { type CommandStartedEvent, type Document, MongoClient } from 'mongodb';
import { hashSessionId, SessionRepository, type SessionRepositoryOptions } from '../lib/index.js';
import { type KoaMaxAge, type KoaStore, koaStore } from '../lib/koa.js';
import { useSpecDatabase } from './support/database.js';
import { HttpClient, type HttpResponse, listen } from './support/http.js';

const database = useSpecDatabase(import.meta.url);

const COOKIE = 'koa.sess';
const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** koa-session keeps a session in its store this long after its cookie expires. */
const STORE_MARGIN_MS = 10_000;
/** The fields of an ended session's record, with the repository's default options. */
const ENDED_FIELDS = ['_id', 'endedAt', 'expires', 'session'];

/** `ctx.session` as the routes below use it (koa-session declares no type for it). */
interface KoaSessionObject {
  views?: number;
  user?: string;
  remember?: boolean;
  maxAge: KoaMaxAge | undefined;
  regenerate(): Promise<void>;
}

interface Reply {
  readonly views: number | null;
  readonly user: string | null;
}

interface App {
  readonly store: KoaStore;
  readonly url: string;
  /** The commands the store's client started, in order. */
  readonly commands: CommandStartedEvent[];
  /** The stored document under `id` (a session key, or its hash under `transformId`), or null. */
  document(id: string): Promise<Document | null>;
  /** The number of stored sessions that have not ended. */
  liveSessions(): Promise<number>;
  /** Sends `GET /slow` with `browser`'s cookies; resolves once the app holds the request. */
  hold(browser: HttpClient): Promise<{ finish(): Promise<HttpResponse> }>;
}

interface AppOptions {
  readonly maxAge?: KoaMaxAge;
  readonly rolling?: boolean;
  readonly store?: SessionRepositoryOptions;
}

let collectionCount = 0;

/** A promise the test resolves: what holds a request open, instead of a timer. */
function latch(): { readonly promise: Promise<void>; open(): void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * A koa app with koa-session on `koaStore`, its client monitored, on a collection of its own:
 * `GET /count` counts a view, `GET /peek` reads, `GET /private` answers 401 without a user,
 * `POST /login?user=` stores the user and regenerates, `POST /rotate` regenerates only,
 * `POST /remember` stores a field and a new `maxAge`, `POST /logout` ends the session, and
 * `GET /slow` counts a view and waits for the test before answering. Closed when `t` ends.
 */
async function startApp(t: TestContext, options: AppOptions = {}): Promise<App> {
  collectionCount += 1;
  const collection = `koa_${collectionCount}`;
  const client = new MongoClient(database.uri, { monitorCommands: true });
  const commands: CommandStartedEvent[] = [];
  client.on('commandStarted', (event) => commands.push(event));
  t.after(() => client.close());
  const store = koaStore({
    client,
    databaseName: database.databaseName,
    collection,
    ...options.store,
  });
  t.after(() => store.close());
  await store.repository.whenIndexed();

  const arrived = latch();
  const released = latch();
  const app = new Koa();
  app.keys = ['koa spec secret'];
  app.use(
    session(
      {
        store,
        maxAge: options.maxAge ?? HOUR_MS,
        rolling: options.rolling ?? false,
      },
      app,
    ),
  );
  app.use(async (ctx) => {
    const current = ctx.session as KoaSessionObject | null;
    assert.ok(current !== null, 'koa-session gives every request a session');
    const reply = (): Reply => ({ views: current.views ?? null, user: current.user ?? null });
    const route = `${ctx.method} ${ctx.path}`;
    if (route === 'GET /count') {
      current.views = (current.views ?? 0) + 1;
    } else if (route === 'GET /slow') {
      current.views = (current.views ?? 0) + 1;
      arrived.open();
      await released.promise;
    } else if (route === 'GET /private') {
      if (current.user === undefined) ctx.throw(401, 'Log in first');
    } else if (route === 'POST /login') {
      current.user = String(ctx.query.user ?? 'ada');
      await current.regenerate();
    } else if (route === 'POST /rotate') {
      await current.regenerate();
    } else if (route === 'POST /remember') {
      current.remember = true;
      current.maxAge = DAY_MS;
    } else if (route === 'POST /logout') {
      ctx.session = null;
      ctx.body = { loggedOut: true };
      return;
    } else if (route !== 'GET /peek') {
      ctx.throw(404);
    }
    ctx.body = reply();
  });
  app.on('error', (error: { status?: number }) => {
    if ((error.status ?? 500) >= 500) t.diagnostic(`koa error: ${String(error)}`);
  });

  const server = await listen(app.callback());
  t.after(() => server.close());
  const sessions = database.db.collection(collection);
  return {
    store,
    url: server.url,
    commands,
    document: (id) => sessions.findOne({ _id: id } as Document),
    liveSessions: () => sessions.countDocuments({ endedAt: { $exists: false } }),
    hold: async (browser) => {
      const response = browser.get('/slow');
      await Promise.race([
        arrived.promise,
        response.then((early) => {
          throw new Error(`/slow answered ${early.status} before it was held: ${early.body}`);
        }),
      ]);
      return {
        finish: () => {
          released.open();
          return response;
        },
      };
    },
  };
}

async function json(browser: HttpClient, method: 'GET' | 'POST', path: string): Promise<Reply> {
  const response = await browser.request(method, path);
  assert.equal(response.status, 200, `${method} ${path}: ${response.body}`);
  return JSON.parse(response.body) as Reply;
}

/** The session key in `browser`'s cookie jar. */
function keyOf(browser: HttpClient): string {
  const key = browser.cookie(COOKIE);
  assert.ok(key !== undefined, 'the browser has a session cookie');
  return key;
}

/** A browser holding `browser`'s cookies as they are now: another tab, or a copied cookie. */
function copyOf(app: App, browser: HttpClient): HttpClient {
  const copy = new HttpClient(app.url);
  for (const name of [COOKIE, `${COOKIE}.sig`]) {
    const value = browser.cookie(name);
    if (value !== undefined) copy.setCookie(name, value);
  }
  return copy;
}

/** The stored document of `id` is the record of an ended session, and nothing else. */
async function assertEnded(app: App, id: string): Promise<void> {
  const document = await app.document(id);
  assert.ok(document !== null, 'the ended session leaves a record');
  assert.deepEqual(Object.keys(document).sort(), ENDED_FIELDS);
  assert.equal(document.session, null);
  assert.ok(document.endedAt instanceof Date);
}

function assertNear(actual: unknown, expected: number, what: string): void {
  assert.ok(actual instanceof Date, `${what} is a date`);
  const off = Math.abs(actual.getTime() - expected);
  assert.ok(off < 60_000, `${what} is ${actual.toISOString()}, ${off} ms from the expected`);
}

/** The update statements among `commands`. */
function updates(commands: readonly CommandStartedEvent[]): Document[] {
  return commands
    .filter((event) => event.commandName === 'update')
    .flatMap((event) => event.command.updates as Document[]);
}

describe('a koa app on koaStore, over HTTP', () => {
  test('a counter counts across requests, in a session stored under the cookie’s key', async (t) => {
    const app = await startApp(t);
    const browser = new HttpClient(app.url);

    assert.equal((await json(browser, 'GET', '/count')).views, 1);
    assert.equal((await json(browser, 'GET', '/count')).views, 2);

    const key = keyOf(browser);
    const stored = await app.document(key);
    assert.equal(stored?.session?.views, 2);
    assert.equal(stored?.session?.cookie?._maxAge, HOUR_MS, "koa-session's fields are kept");
    assertNear(stored?.expires, Date.now() + HOUR_MS + STORE_MARGIN_MS, 'the stored expiry');
    assert.equal((await json(browser, 'GET', '/peek')).views, 2, 'reading changes nothing');
  });

  test('login regenerates the session: a new key holds the user, the old key is ended', async (t) => {
    const app = await startApp(t);
    const browser = new HttpClient(app.url);
    await json(browser, 'GET', '/count');
    const before = keyOf(browser);
    assert.equal((await browser.get('/private')).status, 401, 'the route is protected');

    const login = await json(browser, 'POST', '/login?user=ann');

    const after = keyOf(browser);
    assert.notEqual(after, before, 'login gives a new session key');
    assert.deepEqual(login, { views: 1, user: 'ann' });
    assert.equal((await app.document(after))?.session?.user, 'ann');
    await assertEnded(app, before);
    assert.deepEqual(await json(browser, 'GET', '/private'), { views: 1, user: 'ann' });
  });

  test('logout ends the session: its document becomes an ended record, and its old cookie opens nothing', async (t) => {
    const app = await startApp(t);
    const browser = new HttpClient(app.url);
    await json(browser, 'POST', '/login?user=ann');
    await json(browser, 'GET', '/count');
    const key = keyOf(browser);
    const oldCookies = copyOf(app, browser);

    const logout = await browser.post('/logout');

    assert.equal(logout.status, 200, logout.body);
    assert.equal(browser.cookie(COOKIE), undefined, 'the cookie is cleared');
    await assertEnded(app, key);
    assert.equal(await app.liveSessions(), 0, 'no live session is left');
    assert.equal((await oldCookies.get('/private')).status, 401, 'the old cookie is logged out');
    assert.equal(await app.store.get(key), null);
    await assertEnded(app, key);
  });

  test('a request still running at logout answers as usual, and its save stores nothing', async (t) => {
    const app = await startApp(t);
    const browser = new HttpClient(app.url);
    await json(browser, 'POST', '/login?user=ann');
    const key = keyOf(browser);
    const slow = await app.hold(browser);

    assert.equal((await copyOf(app, browser).post('/logout')).status, 200);
    const response = await slow.finish();

    assert.equal(response.status, 200, `the refused save is no error: ${response.body}`);
    assert.deepEqual(JSON.parse(response.body), { views: 1, user: 'ann' });
    await assertEnded(app, key);
    assert.equal(await app.liveSessions(), 0, 'the session did not come back');
  });

  test("maxAge 'session' (a browser-session cookie): the store keeps the session for the repository's expires", async (t) => {
    const app = await startApp(t, { maxAge: 'session', store: { expires: 2 * HOUR_MS } });
    const browser = new HttpClient(app.url);

    const first = await browser.get('/count');
    assert.equal((await json(browser, 'GET', '/count')).views, 2);

    const cookie = first.setCookies.find((header) => header.startsWith(`${COOKIE}=`));
    assert.ok(cookie !== undefined && !/expires=/i.test(cookie), 'the cookie has no expiry');
    const stored = await app.document(keyOf(browser));
    assert.equal(stored?.session?.cookie?._session, true);
    assertNear(stored?.expires, Date.now() + 2 * HOUR_MS, 'the stored expiry');
  });

  test('regenerating a session koa-session calls unchanged stores it under the new key', async (t) => {
    const app = await startApp(t);
    const browser = new HttpClient(app.url);
    await json(browser, 'GET', '/count');
    const before = keyOf(browser);

    await json(browser, 'POST', '/rotate');

    assert.notEqual(keyOf(browser), before);
    assert.equal((await app.document(keyOf(browser)))?.session?.views, 1);
    assert.equal((await json(browser, 'GET', '/peek')).views, 1, 'the session survived');
  });

  test('a new maxAge with a new field is stored whole, though koa-session calls it unchanged', async (t) => {
    const app = await startApp(t);
    const browser = new HttpClient(app.url);
    await json(browser, 'GET', '/count');

    await json(browser, 'POST', '/remember');

    const stored = await app.document(keyOf(browser));
    assert.equal(stored?.session?.remember, true);
    assert.equal(stored?.session?.cookie?._maxAge, DAY_MS);
    assertNear(stored?.expires, Date.now() + DAY_MS + STORE_MARGIN_MS, 'the stored expiry');
  });
});

describe('what the repository gives, through koaStore', () => {
  test('rolling: a request that changes nothing is a touch, which lazy touch skips within touchAfterMs', async (t) => {
    const app = await startApp(t, { rolling: true });
    const browser = new HttpClient(app.url);
    await json(browser, 'GET', '/count');
    app.commands.length = 0;

    await json(browser, 'GET', '/peek');

    const names = app.commands.map((event) => event.commandName);
    assert.deepEqual(names, ['find'], 'the session is read, and nothing is written');
  });

  test('rolling with touchAfterMs 0: a request that changes nothing moves the expiry and the cookie only', async (t) => {
    const app = await startApp(t, { rolling: true, store: { touchAfterMs: 0 } });
    const browser = new HttpClient(app.url);
    await json(browser, 'GET', '/count');
    const key = keyOf(browser);
    const before = await app.document(key);
    app.commands.length = 0;

    await json(browser, 'GET', '/peek');

    const sets = updates(app.commands).map((statement) => Object.keys(statement.u.$set ?? {}));
    assert.ok(
      sets.some((keys) => keys.includes('session.cookie')),
      `a touch is sent (${JSON.stringify(sets)})`,
    );
    assert.ok(!sets.some((keys) => keys.includes('session')), 'the session is not rewritten');
    const after = await app.document(key);
    assert.equal(after?.session?.views, 1);
    assert.ok(after?.expires > before?.expires, 'the expiry moved forward');
    assert.ok(after?.session?.cookie?._expire > before?.session?.cookie?._expire);
  });

  test('hashSessionId and encryption: the collection holds neither the key nor the session in clear', async (t) => {
    const transformId = hashSessionId(randomBytes(32));
    const encryption = { keys: [{ id: 'k1', key: randomBytes(32) }] };
    const app = await startApp(t, { store: { transformId, encryption } });
    const browser = new HttpClient(app.url);

    await json(browser, 'POST', '/login?user=ann');
    assert.equal((await json(browser, 'GET', '/count')).views, 1);

    const key = keyOf(browser);
    assert.equal(await app.document(key), null, 'nothing is stored under the key');
    const stored = await app.document(transformId(key));
    assert.ok(stored !== null, 'the session is stored under its hash');
    assert.ok(!JSON.stringify(stored.session).includes('ann'), 'the session is encrypted');
    assert.equal((await browser.post('/logout')).status, 200);
    await assertEnded(app, transformId(key));
  });
});

describe('koaStore', () => {
  const options = (collection: string): SessionRepositoryOptions => ({
    uri: database.uri,
    databaseName: database.databaseName,
    collection,
  });

  test('koa-session’s calls: get, set with a maxAge, set of a browser session, destroy', async (t) => {
    const store = koaStore(options('koa_calls'));
    t.after(() => store.close());
    const ctx = {};
    const expire = Date.now() + 60_000;

    await store.set('k1', { views: 1, _expire: expire, _maxAge: 60_000 }, 70_000, {
      changed: true,
      rolling: false,
      ctx,
    });
    await store.set('k2', { views: 2, _session: true }, 'session', { changed: true, ctx });

    const k1 = { views: 1, _expire: expire, _maxAge: 60_000 };
    assert.deepEqual(await store.get('k1', 60_000, { rolling: false, ctx }), k1);
    assert.deepEqual(await store.get('k2', 'session', { ctx }), { views: 2, _session: true });
    await store.destroy('k1', { ctx });
    assert.equal(await store.get('k1'), null);
  });

  test('a set after destroy resolves, and stores nothing', async (t) => {
    const store = koaStore(options('koa_refused'));
    t.after(() => store.close());
    await store.set('k', { views: 1 }, 60_000, { changed: true });
    await store.destroy('k');

    await store.set('k', { views: 2 }, 60_000, { changed: true });

    assert.equal(await store.get('k'), null);
  });

  test('a session field named cookie is refused: the store keeps the expiry there', async (t) => {
    const store = koaStore(options('koa_cookie_field'));
    t.after(() => store.close());

    await assert.rejects(store.set('k', { cookie: 'mine' }, 60_000), {
      name: 'InvalidSessionError',
      message: /`cookie`/,
    });
  });

  test('close() closes a repository koaStore created, and leaves one given as { repository } open', async () => {
    const created = koaStore(options('koa_close'));
    const repository = new SessionRepository(options('koa_close'));
    const given = koaStore({ repository });

    assert.equal(given.repository, repository);
    await created.close();
    await given.close();

    assert.equal(created.repository.closed, true);
    assert.equal(repository.closed, false);
    await given.set('k', { views: 1 }, 60_000);
    assert.deepEqual(await given.get('k'), { views: 1 });
    await repository.close();
  });

  test('koaStore refuses a repository that is not one, or one given with options, naming `repository`', async (t) => {
    const repository = new SessionRepository(options('koa_refuse'));
    t.after(() => repository.close());

    assert.throws(() => koaStore({ repository: {} as SessionRepository }), {
      name: 'TypeError',
      message: /`repository` to be a SessionRepository, got object/,
    });
    assert.throws(
      // @ts-expect-error the options type allows `repository` alone, or options without it
      () => koaStore({ repository, collection: 'other' }),
      { name: 'TypeError', message: /`repository` alone.*`collection`/ },
    );
  });
});
