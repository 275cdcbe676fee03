/**
 * Every program under examples/ runs here against the test server (`MONGODB_URI`), as a user
 * runs it: the Express apps on a free port (`PORT=0`), answering a browser that keeps its
 * cookie, then stopped with SIGTERM; the others to their end. They import the package by its
 * name, so the build (`npm run build`) comes first.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { useSpecDatabase } from './support/database.js';
import { HttpClient } from './support/http.js';
import { type Finished, runProgram } from './support/programs.js';
import { ROOT } from './support/sandbox.js';

const database = useSpecDatabase(import.meta.url);
const LISTENING = /http:\/\/127\.0\.0\.1:(\d+)\//;

/** The databases the examples use, dropped after each. */
const EXAMPLE_DATABASES = [
  'example_app',
  'example_v5_style',
  'example_repository',
  'example_mongoose',
];

async function run(
  file: string,
  onPort?: (browser: HttpClient) => Promise<void>,
): Promise<Finished> {
  const args = file.endsWith('.ts') ? ['--import', 'tsx', file] : [file];
  const result = await runProgram(args, {
    env: { MONGODB_URI: database.uri, PORT: '0' },
    timeoutMs: 30_000,
    portPattern: LISTENING,
    onPort: async (port) => onPort?.(new HttpClient(`http://127.0.0.1:${port}`)),
  });
  const printed = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.signal, null, `${file} ended by itself or on SIGTERM\n${printed}`);
  assert.equal(result.code, 0, `${file} exits with 0\n${printed}`);
  assert.equal(
    result.served,
    onPort !== undefined,
    `${file} listens only if it is an app\n${printed}`,
  );
  return result;
}

test.afterEach(async () => {
  for (const name of EXAMPLE_DATABASES) await database.client.db(name).dropDatabase();
});

test('every file of examples/ is run by this spec', async () => {
  const files = (await readdir(join(ROOT, 'examples'))).sort();
  assert.deepEqual(files, [
    'express-app.ts',
    'express-v5-style.cjs',
    'mongoose.mjs',
    'repository.mjs',
  ]);
});

test('express-app.ts (npm start) counts visits in a stored session, logs in and out', async () => {
  await run('examples/express-app.ts', async (browser) => {
    const first = await browser.get('/');
    assert.equal(first.status, 200, 'the page answers');
    assert.match(first.body, /Visits in this session: <strong>1<\/strong>/);
    const second = await browser.get('/');
    assert.match(second.body, /Visits in this session: <strong>2<\/strong>/);
    const stored = await database.client.db('example_app').collection('sessions').countDocuments();
    assert.equal(stored, 1, 'one session is stored');
    const logout = await browser.post('/logout');
    assert.equal(logout.status, 302, 'log out redirects');
    assert.equal(
      await database.client.db('example_app').collection('sessions').countDocuments(),
      0,
    );
  });
});

test('express-v5-style.cjs: the version 5 factory in CommonJS, its callback and a counting session', async () => {
  const result = await run('examples/express-v5-style.cjs', async (browser) => {
    assert.equal((await browser.get('/')).body, 'Views: 1');
    assert.equal((await browser.get('/')).body, 'Views: 2');
    const stored = await database.client.db('example_v5_style').collection('mySessions').findOne();
    assert.equal(stored?.session?.views, 2, 'the session is stored as version 5 stored it');
  });
  assert.match(
    result.stdout,
    /Session store connected/,
    'the constructor callback reports the connection',
  );
});

test('repository.mjs runs the await API to its end', async () => {
  const { stdout } = await run('examples/repository.mjs');
  assert.match(stdout, /sid-ann belongs to ann/);
  assert.match(stdout, /sessions stored: 3/);
  assert.match(stdout, /logged out of 2 sessions; left: sid-bob/);
});

test("mongoose's driver is a copy other than the store's, as the README says, so mongoose.mjs shows the store taking it", async () => {
  const fromRoot = createRequire(join(ROOT, 'package.json'));
  const fromMongoose = createRequire(fromRoot.resolve('mongoose'));
  const storeDriver = fromRoot.resolve('mongodb/package.json');
  const mongooseDriver = fromMongoose.resolve('mongodb/package.json');
  assert.notEqual(mongooseDriver, storeDriver, 'mongoose loads a driver of its own');
  const { version } = JSON.parse(await readFile(mongooseDriver, 'utf8')) as { version: string };
  assert.match(version, /^6\./, `mongoose's driver is version 6 (${version})`);
});

test("mongoose.mjs: the store shares mongoose's client, and mongoose still works after store.close()", async () => {
  const { stdout } = await run('examples/mongoose.mjs');
  assert.match(stdout, /session sid-1 belongs to ann/);
  assert.match(stdout, /after store\.close\(\): mongoose has 1 user\(s\)/);
});
