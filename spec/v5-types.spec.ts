/**
 * TypeScript written against version 5's types (`@types/connect-mongodb-session` 2.4: the
 * factory, `MongoDBSessionOptions`, a constructor callback typed `(error: Error) => void`,
 * `store.client` as a `MongoClient`) type-checks against the built package, unchanged.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createProject, execute, ROOT } from './support/sandbox.js';

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

test("a version 5-era TypeScript app type-checks against the built package's types", async () => {
  const project = await createProject({
    dependencies: {
      'express-session': 'express-session',
      mongodb: 'mongodb',
      'p-queue': 'p-queue',
      '@types/express-session': '@types/express-session',
      '@types/express': '@types/express',
      '@types/node': '@types/node',
    },
  });
  try {
    const { dir } = project;
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'commonjs' }));
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    await writeFile(join(dir, 'app.ts'), VERSION_5_APP);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const { stdout } = await execute(process.execPath, [tsc, '-p', dir], {
      cwd: dir,
      timeoutMs: 60_000,
    });
    assert.equal(stdout.trim(), '');
  } finally {
    await project.dispose();
  }
});
