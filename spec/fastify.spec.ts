/**
 * `MongoDBStore` with Fastify, @fastify/cookie and @fastify/session, over real HTTP.
 *
 * Without express-session: the app of spec/support/fastify-app.ts runs in a child process inside
 * a sandbox project (spec/support/sandbox.ts) whose node_modules holds the built package,
 * mongodb, p-queue, fastify, @fastify/cookie and @fastify/session, and from which express-session
 * cannot be resolved; once through `import` and once through `require`.
 *
 * With express-session installed (this project): the store stays an express-session `Store`,
 * and, in this process, what a session of @fastify/session's leaves in the collection.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify from 'fastify';
import type { Document } from 'mongodb';
import ts from 'typescript';
import { MongoDBStore } from '../lib/index.js';
import { commandsDuring, useSpecDatabase } from './support/database.js';
import {
  APP_COOKIE,
  APP_COOKIE_MAX_AGE_MS,
  type AppBuild,
  type RunningApp,
  startApp,
  writeApp,
} from './support/fastify-app.js';
import { HttpClient, type HttpResponse } from './support/http.js';
import { createProject, type Project } from './support/sandbox.js';

declare module 'fastify' {
  interface Session {
    user?: string;
  }
}

const database = useSpecDatabase(import.meta.url);

/** What the app's session routes answer. */
interface SessionReply {
  readonly id: string;
  readonly user: string | null;
  readonly count: number | null;
}

let project: Project | undefined;

before(async () => {
  project = await createProject({
    dependencies: {
      mongodb: 'mongodb',
      'p-queue': 'p-queue',
      fastify: 'fastify',
      '@fastify/cookie': '@fastify/cookie',
      '@fastify/session': '@fastify/session',
      '@types/node': '@types/node',
    },
  });
});

after(async () => {
  await project?.dispose();
});

async function json(client: HttpClient, method: 'GET' | 'POST', path: string) {
  const response = await client.request(method, path);
  assert.equal(response.status, 200, response.body);
  return { reply: JSON.parse(response.body) as SessionReply, response };
}

/** The `Expires` of the session cookie a response set, to the second, as cookies have it. */
function cookieExpiry(response: HttpResponse): number {
  const header = response.setCookies.find((cookie) => cookie.startsWith(`${APP_COOKIE}=`));
  const expires = header === undefined ? undefined : /;\s*Expires=([^;]+)/i.exec(header)?.[1];
  assert.ok(expires !== undefined, `no session cookie with an expiry in ${String(header)}`);
  return Date.parse(expires);
}

function wholeSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000) * 1000;
}

for (const build of ['import', 'require'] as const satisfies readonly AppBuild[]) {
  describe(`@fastify/session without express-session, the package loaded through ${build}`, () => {
    const collection = `fastify_${build}`;
    let app: RunningApp | undefined;

    before(async () => {
      assert.ok(project !== undefined);
      const file = await writeApp(project.dir, build);
      app = await startApp(project.dir, file, {
        MONGODB_URI: database.uri,
        DATABASE_NAME: database.databaseName,
        COLLECTION: collection,
      });
    });

    after(async () => {
      await app?.stop();
    });

    const running = (): RunningApp => {
      assert.ok(app !== undefined, 'the app did not start');
      return app;
    };
    const stored = (id: string) =>
      database.db.collection(collection).findOne({ _id: id } as Document);

    test('the installed package cannot resolve express-session', () => {
      const { report } = running();

      assert.equal(report.expressSessionResolvable, false);
      const entry = build === 'import' ? 'index.js' : 'index.cjs';
      assert.ok(
        report.packageFile.endsWith(`/node_modules/connect-mongodb-session/dist/${entry}`),
        report.packageFile,
      );
    });

    test('should express-session load a session from this store after all, it gets an error that says what to do', () => {
      const { createSessionError } = running().report;

      assert.ok(createSessionError !== null, 'createSession did not throw');
      assert.match(createSessionError, /could not resolve express-session/);
      assert.match(createSessionError, /require\('connect-mongodb-session'\)\(session\)/);
    });

    test('logging in stores the user, under the expiry of the cookie @fastify/session sent', async () => {
      const browser = new HttpClient(running().url);

      const { reply, response } = await json(browser, 'POST', '/login');

      assert.equal(reply.user, 'ada');
      const document = await stored(reply.id);
      assert.ok(document !== null, 'no session was stored');
      assert.equal(document.session.user, 'ada');
      assert.ok(document.expires instanceof Date);
      assert.equal(wholeSeconds(document.expires), cookieExpiry(response));
      assert.ok(document.expires.getTime() > Date.now() + APP_COOKIE_MAX_AGE_MS - 60_000);
      assert.ok(document.expires.getTime() <= Date.now() + APP_COOKIE_MAX_AGE_MS);
      assert.equal(document.session.cookie.expires.getTime(), document.expires.getTime());
      assert.equal(document.session.cookie.originalMaxAge, APP_COOKIE_MAX_AGE_MS);
    });

    test('the session carries a counter across requests under one id', async () => {
      const browser = new HttpClient(running().url);

      const first = await json(browser, 'POST', '/count');
      const second = await json(browser, 'POST', '/count');
      const third = await json(browser, 'POST', '/count');

      assert.deepEqual([first.reply.count, second.reply.count, third.reply.count], [1, 2, 3]);
      assert.equal(second.reply.id, first.reply.id);
      assert.equal(third.reply.id, first.reply.id);
      assert.equal((await stored(first.reply.id))?.session.count, 3);
    });

    test('a request that changes nothing writes nothing, though @fastify/session saves the session on every request', async () => {
      const browser = new HttpClient(running().url);
      await json(browser, 'POST', '/login');
      const { reply: counted } = await json(browser, 'POST', '/count');
      const before = await stored(counted.id);
      const writesBefore = await running().writes();

      const reads = [await json(browser, 'GET', '/me'), await json(browser, 'GET', '/me')];

      assert.equal(await running().writes(), writesBefore);
      for (const { reply, response } of reads) {
        assert.deepEqual(reply, { id: counted.id, user: 'ada', count: 1 });
        // @fastify/session saved it (`rolling`): it sets the cookie only after a save.
        assert.equal(response.setCookies.length, 1);
      }
      assert.deepEqual(await stored(counted.id), before);
    });

    test('a new session that holds nothing is stored, as saveUninitialized asks, and keeps its id', async () => {
      const browser = new HttpClient(running().url);

      const first = await json(browser, 'GET', '/me');
      const second = await json(browser, 'GET', '/me');

      assert.equal(second.reply.id, first.reply.id);
      const document = await stored(first.reply.id);
      assert.ok(document !== null, 'the new session was not stored');
      assert.deepEqual(Object.keys(document.session), ['cookie']);
    });

    test('logging out with request.session.destroy() ends the session: none is stored under its id any more', async () => {
      const browser = new HttpClient(running().url);
      const { reply: loggedIn } = await json(browser, 'POST', '/login');
      await json(browser, 'POST', '/count');

      const response = await browser.post('/logout');

      assert.equal(response.status, 200, response.body);
      const ended = await stored(loggedIn.id);
      assert.ok(ended !== null);
      assert.equal(ended.session, null, 'nothing of the session is stored');
      assert.ok(ended.endedAt instanceof Date, 'the id is kept as ended');
      const { reply: after } = await json(browser, 'GET', '/me');
      assert.notEqual(after.id, loggedIn.id);
      assert.deepEqual([after.user, after.count], [null, null]);
      assert.equal((await stored(loggedIn.id))?.session, null, 'the ended id stays ended');
    });
  });
}

// What `tsc --init` sets and most applications keep; express-session's types are missing too.
const TYPESCRIPT_APP = `
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify from 'fastify';
import { MongoDBStore } from 'connect-mongodb-session';

const store = new MongoDBStore({ uri: process.env.MONGODB_URI, collection: 'sessions' });
const app = Fastify();
await app.register(fastifyCookie);
await app.register(fastifySession, { secret: 'a secret of at least 32 characters long', store });
store.on('error', (error) => console.error(error.code));
// @ts-expect-error: the store's own members keep their types (\`length\` gives a number).
const wrong: string = await store.length();
console.log(wrong);
`;

test('a TypeScript Fastify app passes MongoDBStore to @fastify/session without express-session or its types', async () => {
  assert.ok(project !== undefined);
  await writeFile(join(project.dir, 'package.json'), JSON.stringify({ type: 'module' }));
  await writeFile(join(project.dir, 'app.ts'), TYPESCRIPT_APP);

  const program = ts.createProgram([join(project.dir, 'app.ts')], {
    strict: true,
    exactOptionalPropertyTypes: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  });

  const diagnostics = ts
    .getPreEmitDiagnostics(program)
    .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
  assert.deepEqual(diagnostics, []);
});

describe('with express-session installed', () => {
  let count = 0;

  /** A store on a collection of its own, closed when the test ends. */
  async function openStore(t: TestContext, touchAfterMs?: number) {
    count += 1;
    const collection = `in_process_${count}`;
    const store = new MongoDBStore({
      client: database.client,
      databaseName: database.databaseName,
      collection,
      touchAfterMs,
    });
    t.after(() => store.close());
    await store.repository.whenIndexed();
    return { store, sessions: database.db.collection(collection) };
  }

  test('MongoDBStore is an express-session Store', async (t) => {
    const { store } = await openStore(t);

    assert.ok(store instanceof (await import('express-session')).Store);
  });

  test('an unchanged session of @fastify/session has only its cookie and expiry written, moved as the cookie rolls', async (t) => {
    const { store, sessions } = await openStore(t, 0);
    const app = Fastify();
    await app.register(fastifyCookie);
    await app.register(fastifySession, {
      secret: 'a fastify spec secret of at least 32 characters',
      store,
      cookie: { secure: false, maxAge: APP_COOKIE_MAX_AGE_MS },
    });
    app.post('/login', async (request) => {
      request.session.user = 'ada';
      return { id: request.session.sessionId };
    });
    app.get('/me', async (request) => ({ user: request.session.user ?? null }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    t.after(() => app.close());
    const address = app.server.address();
    assert.ok(typeof address === 'object' && address !== null);
    const browser = new HttpClient(`http://127.0.0.1:${address.port}`);
    const login = await browser.post('/login');
    const { id } = JSON.parse(login.body) as { id: string };
    const written = await sessions.findOne({ _id: id } as Document);
    assert.ok(written !== null);

    let read: HttpResponse | undefined;
    const commands = await commandsDuring(database.client, async () => {
      read = await browser.get('/me');
    });

    assert.ok(read !== undefined);
    assert.deepEqual(JSON.parse(read.body), { user: 'ada' });
    const updates = commands.filter(
      (event) => event.commandName === 'update' && event.command.update === sessions.collectionName,
    );
    assert.equal(updates.length, 1, 'one write: the touch');
    // The last statement: on FerretDB 1.x a first one may mark the stored cookie (key-shapes.ts).
    const statements = updates[0]?.command.updates as Array<{ u: { $set: Document } }> | undefined;
    const statement = statements?.at(-1);
    assert.ok(statement !== undefined);
    assert.ok(Object.hasOwn(statement.u.$set, 'session.cookie'), 'the cookie is written');
    assert.ok(!Object.hasOwn(statement.u.$set, 'session'), 'the session is not rewritten');
    const touched = await sessions.findOne({ _id: id } as Document);
    assert.ok(touched !== null);
    assert.equal(touched.session.user, 'ada');
    assert.ok(touched.expires.getTime() >= written.expires.getTime());
    assert.equal(wholeSeconds(touched.expires), cookieExpiry(read));
  });
});
