/**
 * TypeScript written against version 5's types (`@types/connect-mongodb-session` 2.4: the
 * factory, `MongoDBSessionOptions`, a constructor callback typed `(error: Error) => void`,
 * `store.client` as a `MongoClient`) type-checks against the built package, unchanged.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE, ROOT } from './support/sandbox.js';

// Written as version 5's users wrote it; `any` included, as its types used it.
const VERSION_5_APP = `
import session = require('express-session');
import connectMongoDBSession = require('connect-mongodb-session');
import { MongoClient } from 'mongodb';

const MongoDBStore = connectMongoDBSession(session);

const options: connectMongoDBSession.MongoDBSessionOptions = {
  uri: 'mongodb://127.0.0.1:27017/connect_mongodb_session_test',
  collection: 'mySessions',
  expires: 1000 * 60 * 60 * 24 * 7,
  databaseName: 'connect_mongodb_session_test',
  idField: '_id',
  expiresKey: 'expires',
  expiresAfterSeconds: 0,
  connectionOptions: { serverSelectionTimeoutMS: 10000 },
};

const store = new MongoDBStore(options, (error: Error) => {
  if (error) console.log(error.message);
});
const bare = new MongoDBStore({ uri: 'mongodb://127.0.0.1:27017/test', collection: 'sessions' });
store.on('error', (error: Error) => console.log(error.message));

const client: MongoClient = store.client;
const typed: connectMongoDBSession.MongoDBStore = bare;

store.get('sid', (err: any, found?: session.SessionData | null) => console.log(err, found));
store.set('sid', { cookie: new session.Cookie() } as session.SessionData, (err?: any) => console.log(err));
store.destroy('sid', (err?: any) => console.log(err));
store.clear((err?: any) => console.log(err));
store.all((err: any, all) => console.log(err, all));

export { client, typed };
`;

// The settings of a version 5-era project: CommonJS with classic Node resolution, strict.
const TSCONFIG = {
  compilerOptions: {
    module: 'commonjs',
    moduleResolution: 'node10',
    target: 'ES2022',
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    types: ['node'],
  },
  files: ['app.ts'],
};

/** Runs the project's TypeScript compiler in `dir`; resolves with its output, rejects on errors. */
function typeCheck(dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir],
      { cwd: dir, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`tsc failed:\n${stdout}${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

test("a version 5-era TypeScript app type-checks against the built package's types", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cms-v5-types-'));
  try {
    const modules = join(dir, 'node_modules');
    const installed = join(modules, PACKAGE);
    await mkdir(join(modules, '@types'), { recursive: true });
    await mkdir(installed, { recursive: true });
    await cp(join(ROOT, 'package.json'), join(installed, 'package.json'));
    await cp(join(ROOT, 'dist'), join(installed, 'dist'), { recursive: true });
    for (const name of ['express-session', 'mongodb', 'p-queue', 'eventemitter3', 'p-timeout']) {
      await symlink(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
    }
    for (const name of ['express-session', 'express', 'node']) {
      await symlink(
        join(ROOT, 'node_modules', '@types', name),
        join(modules, '@types', name),
        'dir',
      );
    }
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'commonjs' }));
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    await writeFile(join(dir, 'app.ts'), VERSION_5_APP);
    assert.equal((await typeCheck(dir)).trim(), '');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
