/**
 * Debug logging as a user turns it on: `NODE_DEBUG=connect-mongodb-session` on a program using
 * the built package. The lines tell connecting, index decisions, fallbacks, sweeps and closing,
 * and never hold a session id, session contents or a connection string's password.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { useSpecDatabase } from './support/database.js';
import { execute, ROOT } from './support/sandbox.js';
import { closedPort } from './support/tcp-proxy.js';

const database = useSpecDatabase(import.meta.url);

const SESSION_ID = 'sid-7b1f0c9e-never-logged';
const SECRET_VALUE = 'contents-4d2a-never-logged';
const PASSWORD = 'password-93e1-never-logged';

/** Runs a store through its life: connect, indexes, writes, a sweep, an unreachable server, close. */
function program(uri: string, databaseName: string, unreachableUri: string): string {
  return `
import { MongoDBStore, SessionRepository } from 'connect-mongodb-session';

const repository = new SessionRepository({
  uri: ${JSON.stringify(uri)},
  databaseName: ${JSON.stringify(databaseName)},
  collection: 'debug_log_' + process.pid,
  idField: 'sid',
  autoRemove: 'interval',
  autoRemoveIntervalMs: 100,
});
const cookie = { expires: new Date(Date.now() + 60_000) };
await repository.set(${JSON.stringify(SESSION_ID)}, { cookie, secret: ${JSON.stringify(SECRET_VALUE)} });
await repository.get(${JSON.stringify(SESSION_ID)});
await repository.whenIndexed();
// Long enough for a timed sweep or two.
await new Promise((resolve) => setTimeout(resolve, 400));
await repository.destroy(${JSON.stringify(SESSION_ID)});
await repository.close();

const unreachable = new MongoDBStore({
  uri: ${JSON.stringify(unreachableUri)},
  connectionOptions: { serverSelectionTimeoutMS: 200 },
});
unreachable.on('error', () => undefined);
await unreachable.get(${JSON.stringify(SESSION_ID)}).catch(() => undefined);
await unreachable.close();
console.log('done');
`;
}

async function run(env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  const dir = join(ROOT, '.cache', 'debug-log');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `program-${process.pid}-${Object.keys(env).length}.mjs`);
  const unreachable = `mongodb://ann:${PASSWORD}@127.0.0.1:${await closedPort()}/`;
  await writeFile(file, program(database.uri, database.databaseName, unreachable));
  try {
    return await execute(process.execPath, [file], { cwd: ROOT, env, timeoutMs: 30_000 });
  } finally {
    await rm(file, { force: true });
  }
}

test('NODE_DEBUG=connect-mongodb-session tells connecting, indexes, sweeps, failures and closing', async () => {
  const { stdout, stderr } = await run({ NODE_DEBUG: 'connect-mongodb-session' });
  assert.match(stdout, /done/, 'the program ran to its end');
  const lines = stderr.split('\n').filter((line) => line.startsWith('CONNECT-MONGODB-SESSION'));
  const expected = [
    /: connecting$/,
    /: connected in \d+ ms$/,
    /: unique index on sid ensured$|: unique index on sid failed: /,
    /: sweep deleted \d+ expired sessions in \d+ ms$/,
    /: closing: waiting for operations under way$/,
    /: closing the client the store created$/,
    /: connecting failed after \d+ ms: \w+/,
  ];
  for (const pattern of expected) {
    assert.ok(
      lines.some((line) => pattern.test(line)),
      `a debug line matches ${pattern}; lines:\n${lines.join('\n')}`,
    );
  }
  for (const secret of [SESSION_ID, SECRET_VALUE, PASSWORD, database.uri]) {
    assert.ok(!stderr.includes(secret), 'no debug line holds a session id, contents or a URI');
  }
});

test('without NODE_DEBUG the store prints no debug line', async () => {
  const { stdout, stderr } = await run({});
  assert.match(stdout, /done/, 'the program ran to its end');
  assert.doesNotMatch(stderr, /CONNECT-MONGODB-SESSION/);
});
