/**
 * `npm run docs` builds the API reference from the TSDoc comments without a warning
 * (typedoc.json sets `treatWarningsAsErrors`), so a public API left undocumented, or a comment
 * linking to something that does not exist, fails here rather than in a published reference.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './support/sandbox.js';

test('typedoc builds the API reference of both entry points with no warning', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'cms-api-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const typedoc = join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [typedoc, '--out', out],
      { cwd: ROOT, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`typedoc failed:\n${stdout}\n${stderr}`));
        else resolve(`${stdout}${stderr}`);
      },
    );
  });
  assert.doesNotMatch(output, /\[warning\]/, 'typedoc printed no warning');
  // One page a module: the main entry (lib/index.ts) and connect-mongodb-session/koa (lib/koa.ts).
  const main = await readFile(join(out, 'modules', 'index.html'), 'utf8');
  for (const name of ['MongoDBStore', 'SessionRepository', 'SessionStoreError', 'hashSessionId']) {
    assert.ok(main.includes(name), `the reference lists ${name}`);
  }
  const koa = await readFile(join(out, 'modules', 'koa.html'), 'utf8');
  assert.ok(koa.includes('koaStore'), 'the reference lists koaStore');
});
