import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import express from 'express';
import session from 'express-session';
import type { CommandStartedEvent, Document } from 'mongodb';
import { MongoDBStore, type MongoDBStoreOptions } from '../lib/index.js';
import { useSpecDatabase } from './support/database.js';
import { HttpClient, listen, sessionIdOf } from './support/http.js';

declare module 'express-session' {
  interface SessionData {
    views?: number;
    user?: string;
  }
}

const COOKIE = 'connect.sid';
const HOUR_MS = 60 * 60 * 1000;

const database = useSpecDatabase(import.meta.url);

interface SessionReply {
  readonly id: string;
  readonly views: number | null;
  readonly user: string | null;
}

interface App {
  readonly store: MongoDBStore;
  readonly url: string;
  /** The stored document of session `sid`, or null. */
  document(sid: string): Promise<Document | null>;
}

let appCount = 0;

/**
 * An Express app with a visit counter (`GET /count`), a read-only view (`GET /peek`), log in
 * with `regenerate` (`POST /login`) and log out with `destroy` (`POST /logout`), on a store and
 * collection of its own; server and store are closed when the test ends.
 */
async function startApp(
  t: TestContext,
  options: { cookieMaxAgeMs?: number; rolling?: boolean; store?: MongoDBStoreOptions } = {},
): Promise<App> {
  appCount += 1;
  const collection = `e2e_${appCount}`;
  const store = new MongoDBStore({
    uri: database.uri,
    databaseName: database.databaseName,
    collection,
    ...options.store,
  });
  t.after(() => store.close());
  await store.repository.ready();
  await store.repository.whenIndexed();

  const app = express();
  app.use(
    session({
      store,
      secret: 'spec secret',
      resave: false,
      saveUninitialized: false,
      rolling: options.rolling ?? false,
      cookie: { maxAge: options.cookieMaxAgeMs ?? HOUR_MS, httpOnly: true },
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
  app.post('/login', (req, res, next) => {
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.user = 'ada';
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
  t.after(() => server.close());
  const sessions = database.db.collection(collection);
  return {
    store,
    url: server.url,
    document: (sid) => sessions.findOne({ _id: sid } as Document),
  };
}

async function json(
  client: HttpClient,
  method: 'GET' | 'POST',
  path: string,
): Promise<SessionReply> {
  const response = await client.request(method, path);
  assert.equal(response.status, 200, response.body);
  return JSON.parse(response.body) as SessionReply;
}

test('the session cookie carries the session across requests', async (t) => {
  const app = await startApp(t);
  const browser = new HttpClient(app.url);

  const first = await json(browser, 'GET', '/count');
  const second = await json(browser, 'GET', '/count');
  const third = await json(browser, 'GET', '/count');

  assert.deepEqual([first.views, second.views, third.views], [1, 2, 3]);
  assert.equal(second.id, first.id);
  assert.equal(third.id, first.id);
  assert.equal(sessionIdOf(browser.cookie(COOKIE)), first.id);
});

test('a request without the cookie gets a new, empty session', async (t) => {
  const app = await startApp(t);
  const browser = new HttpClient(app.url);
  const first = await json(browser, 'GET', '/count');

  const stranger = await json(new HttpClient(app.url), 'GET', '/peek');

  assert.notEqual(stranger.id, first.id);
  assert.equal(stranger.views, null);
});

test('a modified session is stored as a document in the collection', async (t) => {
  const app = await startApp(t);
  const browser = new HttpClient(app.url);

  const { id } = await json(browser, 'GET', '/count');

  const document = await app.document(id);
  assert.ok(document !== null);
  assert.equal(document.session.views, 1);
  assert.ok(document.expires instanceof Date);
  assert.ok(document.expires.getTime() > Date.now());
  assert.ok(document.expires.getTime() <= Date.now() + HOUR_MS);
  assert.equal(new Date(document.session.cookie.expires).getTime(), document.expires.getTime());
});

test('regenerate ends the old session: its document keeps no data, and the old cookie no longer finds it', async (t) => {
  const app = await startApp(t);
  const browser = new HttpClient(app.url);
  const original = await json(browser, 'GET', '/count');
  const oldCookie = browser.cookie(COOKIE);
  assert.ok(oldCookie !== undefined);

  const loggedIn = await json(browser, 'POST', '/login');

  assert.notEqual(loggedIn.id, original.id);
  const ended = await app.document(original.id);
  assert.equal(ended?.session, null, 'nothing of the old session is stored');
  assert.ok(ended?.endedAt instanceof Date, 'the old id is kept as ended');
  assert.equal((await app.document(loggedIn.id))?.session.user, 'ada');
  const replay = new HttpClient(app.url);
  replay.setCookie(COOKIE, oldCookie);
  const replayed = await json(replay, 'GET', '/peek');
  assert.notEqual(replayed.id, original.id);
  assert.equal(replayed.views, null);
  assert.equal(replayed.user, null);
});

test('destroy ends the session: its document keeps no data, and the cookie no longer finds it', async (t) => {
  const app = await startApp(t);
  const browser = new HttpClient(app.url);
  const { id } = await json(browser, 'GET', '/count');
  const oldCookie = browser.cookie(COOKIE);
  assert.ok(oldCookie !== undefined);
  assert.notEqual(await app.document(id), null);

  const response = await browser.post('/logout');

  assert.equal(response.status, 200);
  const ended = await app.document(id);
  assert.equal(ended?.session, null, 'nothing of the session is stored');
  assert.ok(ended?.endedAt instanceof Date, 'the id is kept as ended');
  assert.match(response.setCookies.join('\n'), /^connect\.sid=;/m);
  assert.equal(browser.cookie(COOKIE), undefined);
  const replay = new HttpClient(app.url);
  replay.setCookie(COOKIE, oldCookie);
  assert.equal((await json(replay, 'GET', '/peek')).views, null);
});

test('with rolling and without resave, a request that does not change the session touches it', async (t) => {
  // Every touch writes: the lazy touch has its own specs below.
  const app = await startApp(t, { rolling: true, store: { touchAfterMs: 0 } });
  const touch = t.mock.method(app.store, 'touch');
  const set = t.mock.method(app.store, 'set');
  const browser = new HttpClient(app.url);
  const { id } = await json(browser, 'GET', '/count');
  const stored = await app.document(id);
  assert.ok(stored !== null);
  // The new expiry is computed from the clock, so let it move on by at least a millisecond.
  const storedAt = Date.now();
  while (Date.now() === storedAt) await delay(1);

  const response = await browser.get('/peek');

  assert.equal((JSON.parse(response.body) as SessionReply).views, 1);
  assert.equal(response.setCookies.length, 1, 'rolling sends the cookie again');
  assert.equal(touch.mock.callCount(), 1);
  assert.equal(set.mock.callCount(), 1, 'only the first request saves the session');
  const afterTouch = await app.document(id);
  assert.ok(afterTouch !== null);
  assert.ok(afterTouch.expires.getTime() > stored.expires.getTime());
  assert.equal(new Date(afterTouch.session.cookie.expires).getTime(), afterTouch.expires.getTime());
  const { cookie: _beforeCookie, ...contentsBefore } = stored.session;
  const { cookie: _afterCookie, ...contentsAfter } = afterTouch.session;
  assert.deepEqual(contentsAfter, contentsBefore);
});

test('lazy touch: requests within the window send one find each and no write; the first after it, one update', async (t) => {
  const windowMs = 1_500;
  const app = await startApp(t, {
    rolling: true,
    store: { touchAfterMs: windowMs, connectionOptions: { monitorCommands: true } },
  });
  const commands: string[] = [];
  app.store.client.on('commandStarted', (event: CommandStartedEvent) => {
    commands.push(event.commandName);
  });
  const browser = new HttpClient(app.url);
  const { id } = await json(browser, 'GET', '/count');
  const written = await app.document(id);
  commands.length = 0;

  for (let request = 0; request < 5; request += 1) {
    assert.equal((await json(browser, 'GET', '/peek')).views, 1);
  }
  assert.deepEqual(commands, Array(5).fill('find'), 'five reads, no write');
  assert.equal((await app.document(id))?.expires.getTime(), written?.expires.getTime());

  await delay(windowMs + 50);
  commands.length = 0;
  await json(browser, 'GET', '/peek');
  assert.deepEqual(commands, ['find', 'update'], 'one write once the window has passed');
  const moved = await app.document(id);
  assert.ok(
    (moved?.expires.getTime() ?? 0) >= (written?.expires.getTime() ?? 0) + windowMs,
    'the expiry moved on by the time that passed',
  );
});

test('a session whose cookie has expired is not served', async (t) => {
  const maxAgeMs = 300;
  const app = await startApp(t, { cookieMaxAgeMs: maxAgeMs });
  const browser = new HttpClient(app.url);
  const started = Date.now();
  const { id } = await json(browser, 'GET', '/count');
  assert.notEqual(await app.document(id), null);

  // Any request with the cookie would touch the session and push its expiry on, so wait by
  // asking the store, which does not touch it.
  const deadline = Date.now() + 10_000;
  while ((await app.store.get(id)) !== null && Date.now() < deadline) await delay(25);
  const reply = await json(browser, 'GET', '/peek');

  assert.ok(Date.now() - started >= maxAgeMs, 'the session was refused before it expired');
  assert.notEqual(reply.id, id);
  assert.equal(reply.views, null);
});
