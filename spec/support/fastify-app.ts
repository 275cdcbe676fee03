/**
 * The Fastify app of spec/fastify.spec.ts, as a program that runs in a child process inside a
 * sandbox project (spec/support/sandbox.ts) holding the built package, mongodb, p-queue, fastify,
 * @fastify/cookie and @fastify/session, and no express-session. The same app is written as an ES
 * module (`import { MongoDBStore } from 'connect-mongodb-session'`) and as CommonJS
 * (`const { MongoDBStore } = require('connect-mongodb-session')`).
 *
 * Its session routes: `POST /login` puts a user in the session, `POST /count` counts visits,
 * `GET /me` reads the session and changes nothing, `POST /logout` calls
 * `request.session.destroy()`. Each answers `{ id, user, count }` (`{ ended: true }` for the
 * last). `GET /writes`, outside the session plugin's scope, answers how many write commands the
 * app's MongoDB client has sent to the session collection, so that a spec can tell whether a
 * request wrote.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** How the app loads the package: `import` (an .mjs file) or `require` (a .cjs file). */
export type AppBuild = 'import' | 'require';

/** The session cookie's lifetime in the app, in milliseconds. */
export const APP_COOKIE_MAX_AGE_MS = 60 * 60 * 1000;
/** @fastify/session's cookie name, which the app keeps. */
export const APP_COOKIE = 'sessionId';

/** What the app prints once it listens. */
export interface AppReport {
  readonly port: number;
  /** Whether express-session resolves from the installed package's own file. */
  readonly expressSessionResolvable: boolean;
  /** The file `connect-mongodb-session` resolved to. */
  readonly packageFile: string;
  /** What the store's `createSession`, which express-session calls to load a session, threw. */
  readonly createSessionError: string | null;
}

export interface RunningApp {
  readonly url: string;
  readonly report: AppReport;
  /** Write commands sent to the session collection so far. */
  writes(): Promise<number>;
  /** Ends the program (it closes its server, store and client) and waits for it to exit. */
  stop(): Promise<void>;
}

const HEADERS: Record<AppBuild, string> = {
  import: `
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify from 'fastify';
import { MongoClient } from 'mongodb';
import { MongoDBStore } from 'connect-mongodb-session';

const packageFile = fileURLToPath(import.meta.resolve('connect-mongodb-session'));
`,
  require: `
'use strict';
const { createRequire } = require('node:module');
const fastifyCookie = require('@fastify/cookie');
const fastifySession = require('@fastify/session');
const Fastify = require('fastify');
const { MongoClient } = require('mongodb');
const { MongoDBStore } = require('connect-mongodb-session');

const packageFile = require.resolve('connect-mongodb-session');
`,
};

const BODY = `
async function main() {
  let expressSessionResolvable = true;
  try {
    createRequire(packageFile).resolve('express-session');
  } catch {
    expressSessionResolvable = false;
  }

  const collection = process.env.COLLECTION;
  const writeCommands = new Set(['insert', 'update', 'delete', 'findAndModify']);
  let writes = 0;
  const client = new MongoClient(process.env.MONGODB_URI, { monitorCommands: true });
  client.on('commandStarted', (event) => {
    if (writeCommands.has(event.commandName) && event.command[event.commandName] === collection) {
      writes += 1;
    }
  });
  const store = new MongoDBStore({ client, databaseName: process.env.DATABASE_NAME, collection });
  await store.repository.whenIndexed();
  let createSessionError = null;
  try {
    store.createSession({}, { cookie: {} });
  } catch (error) {
    createSessionError = error.message;
  }

  const app = Fastify();
  app.get('/writes', async () => ({ writes }));
  await app.register(async (scope) => {
    await scope.register(fastifyCookie);
    await scope.register(fastifySession, {
      secret: 'a fastify spec secret of at least 32 characters',
      store,
      cookie: { secure: false, maxAge: ${APP_COOKIE_MAX_AGE_MS} },
    });
    const reply = (request) => ({
      id: request.session.sessionId,
      user: request.session.get('user') ?? null,
      count: request.session.get('count') ?? null,
    });
    scope.post('/login', async (request) => {
      request.session.set('user', 'ada');
      return reply(request);
    });
    scope.post('/count', async (request) => {
      request.session.set('count', (request.session.get('count') ?? 0) + 1);
      return reply(request);
    });
    scope.get('/me', async (request) => reply(request));
    scope.post('/logout', async (request) => {
      await request.session.destroy();
      return { ended: true };
    });
  });
  await app.listen({ port: 0, host: '127.0.0.1' });

  process.stdin.on('end', async () => {
    await app.close();
    await store.close();
    await client.close();
  });
  process.stdin.resume();
  process.stdout.write(JSON.stringify({ port: app.server.address().port, expressSessionResolvable, packageFile, createSessionError }) + '\\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

/** Writes the app of `build` into the sandbox project `dir`; returns its file name. */
export async function writeApp(dir: string, build: AppBuild): Promise<string> {
  const file = build === 'import' ? 'fastify-app.mjs' : 'fastify-app.cjs';
  await writeFile(join(dir, file), HEADERS[build] + BODY);
  return file;
}

/**
 * Starts `file` with plain `node` in `dir`, with only PATH, HOME and `env` in its environment,
 * and resolves once it listens. Rejects with what it printed if it exits first or does not
 * listen within `timeoutMs`.
 */
export function startApp(
  dir: string,
  file: string,
  env: Readonly<Record<string, string>>,
  timeoutMs = 30_000,
): Promise<RunningApp> {
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(process.execPath, [file], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  return new Promise((resolve, reject) => {
    let listening = false;
    const fail = (reason: string) => {
      if (listening) return;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(new Error(`${reason}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    };
    const timer = setTimeout(
      () => fail(`${file} did not listen within ${timeoutMs} ms`),
      timeoutMs,
    );
    child.once('error', (error) => fail(String(error)));
    child.once('close', (code, signal) =>
      fail(`${file} exited (${code ?? signal}) before it listened`),
    );
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const newline = stdout.indexOf('\n');
      if (listening || newline < 0) return;
      listening = true;
      clearTimeout(timer);
      const report = JSON.parse(stdout.slice(0, newline)) as AppReport;
      const url = `http://127.0.0.1:${report.port}`;
      resolve({
        url,
        report,
        writes: async () => {
          const response = await fetch(`${url}/writes`);
          return ((await response.json()) as { writes: number }).writes;
        },
        stop,
      });
    });
  });
}
