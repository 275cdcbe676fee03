/**
 * The first app of docs/getting-started.md as a newcomer runs it: `node app.mjs`, with nothing
 * in the environment. spec/docs.spec.ts runs every block too, but sets each `process.env.NAME` a
 * block reads, as a deployment would; here `SESSION_SECRET` is unset, and the app must still
 * answer and keep a browser's session. Only the connection string, the database and the port are
 * changed, as spec/docs.spec.ts changes them. Needs the build (`npm run build`).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { useSpecDatabase } from './support/database.js';
import { HttpClient } from './support/http.js';
import { runProgram } from './support/programs.js';
import { ROOT } from './support/sandbox.js';

const database = useSpecDatabase(import.meta.url);

const GUIDE = join(ROOT, 'docs', 'getting-started.md');
const PORT_LINE = 'first-app-port=';

/** The first ```js block after the heading `## A first app`. */
async function firstApp(): Promise<string> {
  const guide = await readFile(GUIDE, 'utf8');
  const section = guide.slice(guide.indexOf('\n## A first app\n'));
  const source = /\n```js\n([\s\S]*?)\n```\n/.exec(section)?.[1];
  if (source === undefined || !source.includes('app.listen(3000)')) {
    assert.fail(`${GUIDE} has no first app that listens on 3000 under "## A first app"`);
  }
  return source;
}

test('the first app of getting-started.md, run as written without SESSION_SECRET, answers and keeps a browser’s session', async (t) => {
  const source = (await firstApp())
    .replace("'mongodb://127.0.0.1:27017/'", `'${database.uri.replace(/\/$/, '')}/'`)
    .replace("databaseName: 'myapp'", `databaseName: '${database.databaseName}'`)
    .replace(
      'app.listen(3000)',
      `(globalThis.server = app.listen(0, '127.0.0.1', () => console.log('${PORT_LINE}' + globalThis.server.address().port)))`,
    );
  // Inside the project, so that the package resolves by its name to the build.
  const dir = join(ROOT, '.cache', 'docs-blocks');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `getting-started-first-app-${process.pid}.mjs`);
  await writeFile(file, source);
  t.after(() => rm(file, { force: true }));

  const result = await runProgram([file], {
    env: {},
    timeoutMs: 30_000,
    portPattern: new RegExp(`${PORT_LINE}(\\d+)\\n`),
    onPort: async (port) => {
      const browser = new HttpClient(`http://127.0.0.1:${port}`);
      const first = await browser.get('/');
      assert.equal(first.status, 200, `the first visit answers 200 (${first.body})`);
      assert.equal(first.body, 'You have been here 1 times');
      const second = await browser.get('/');
      assert.equal(second.body, 'You have been here 2 times', 'the session is kept');
    },
  });
  assert.equal(result.served, true, `the app listened\n${result.stderr}`);
  assert.equal(result.signal, null, `the app ran until stopped\n${result.stderr}`);
});
