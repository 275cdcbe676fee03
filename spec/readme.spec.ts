/**
 * The README's examples run as written, against the test server: only the connection string
 * (and the listening port, 3000 becoming a free one) is changed. They import the package by its
 * name, so they run from a file inside the project (the package's self-reference), built first.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { useSpecDatabase } from './support/database.js';
import { HttpClient } from './support/http.js';
import { ROOT } from './support/sandbox.js';

const database = useSpecDatabase(import.meta.url);

/** The first ```js block after `heading` in the README. */
async function readmeBlock(heading: string): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(heading));
  const match = /```js\n([\s\S]*?)```/.exec(section);
  assert.ok(match?.[1], `the README has a js block under ${heading}`);
  return match[1];
}

/** The block with the test server's address in place of the README's. */
function onTestServer(block: string): string {
  const uri = database.uri.replace(/\/$/, '');
  assert.ok(block.includes("'mongodb://127.0.0.1:27017/'"), 'the block names the usual address');
  return block
    .replaceAll("'mongodb://127.0.0.1:27017/'", `'${uri}/'`)
    .replaceAll("databaseName: 'myapp'", `databaseName: '${database.databaseName}'`);
}

async function writeExample(t: TestContext, name: string, source: string): Promise<string> {
  const dir = join(ROOT, '.cache', 'readme-examples');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}-${process.pid}.mjs`);
  await writeFile(file, source);
  t.after(() => rm(file, { force: true }));
  return file;
}

test("the README's express-session example serves a counting session over HTTP", async (t) => {
  const block = onTestServer(await readmeBlock('## With express-session'));
  assert.ok(block.includes('app.listen(3000);'));
  const source = block.replace(
    'app.listen(3000);',
    'const server = app.listen(0, "127.0.0.1", () => console.log(server.address().port));',
  );
  const file = await writeExample(t, 'express', source);
  const child: ChildProcess = spawn(process.execPath, [file], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    child.kill();
  });
  const [chunk] = (await once(child.stdout ?? child, 'data')) as [Buffer];
  const port = Number(chunk.toString().trim());
  assert.ok(port > 0);

  const browser = new HttpClient(`http://127.0.0.1:${port}`);
  const first = await browser.get('/');
  assert.equal(first.status, 200);
  assert.equal(first.body, 'Views: 1');
  const second = await browser.get('/');
  assert.equal(second.body, 'Views: 2');
  const stored = await database.db.collection('sessions').countDocuments({});
  assert.equal(stored, 1);
});

test("the README's await example runs to the end and prints the session", async (t) => {
  const file = await writeExample(t, 'await', onTestServer(await readmeBlock('## With `await`')));
  const output = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [file], { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
  assert.match(output, /user: 'ann'/);
  assert.match(output, /sid-1/);
});
