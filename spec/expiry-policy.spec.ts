/** The expiry policy and the lazy-touch memory: plain functions of the options, no database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpiryPolicy } from '../lib/expiry/expiry-policy.js';
import { StoredExpiries } from '../lib/expiry/lazy-touch.js';
import { ServerClock } from '../lib/expiry/server-clock.js';
import { resolveOptions, type SessionRepositoryOptions } from '../lib/options/options.js';

const policy = (options: SessionRepositoryOptions = {}) =>
  new ExpiryPolicy(resolveOptions(options), new ServerClock());
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

test('a touch writes when the stored expiry lags the wanted one by the window or more', () => {
  const now = 1_000_000;
  const wanted = new Date(now + HOUR);
  const lazy = policy({ touchAfterMs: MINUTE });
  assert.equal(lazy.touchNeeded(undefined, wanted, now), true, 'nothing known: write');
  assert.equal(lazy.touchNeeded(new Date(now + HOUR - MINUTE + 1), wanted, now), false);
  assert.equal(lazy.touchNeeded(new Date(now + HOUR - MINUTE), wanted, now), true);
  assert.equal(policy({ touchAfterMs: 0 }).touchNeeded(wanted, wanted, now), true, '0: always');
  const shorter = new Date(now + HOUR - 1);
  assert.equal(lazy.touchNeeded(wanted, shorter, now), true, 'an expiry moved back is written');
  const ended = new Date(now - 1);
  assert.equal(lazy.touchNeeded(wanted, ended, now), true, 'an ended session is written');
});

test('the window is at most a tenth of the lifetime the touch asks for', () => {
  const now = 0;
  const wanted = new Date(now + 10_000);
  const lazy = policy({ touchAfterMs: HOUR });
  assert.equal(lazy.touchNeeded(new Date(now + 9_001), wanted, now), false, '999 ms behind');
  assert.equal(lazy.touchNeeded(new Date(now + 9_000), wanted, now), true, '1 000 ms behind');
});

test('reads filter on the expiry field; the Cosmos DB mode filters on its own date and tolerates none', () => {
  const now = new Date(0);
  assert.deepEqual(policy().unexpired({ _id: 'a' as never }, now), {
    _id: 'a',
    expires: { $gt: now },
  });
  assert.deepEqual(policy({ expiresKey: 'at' }).expired(now), { at: { $lte: now } });
  const cosmos = policy({ expiresKey: '_ts' });
  assert.deepEqual(cosmos.unexpired({}, now), { expires: { $not: { $lte: now } } });
  assert.deepEqual(cosmos.expiryFields(now), { expires: now }, 'never _ts');
});

test('the TTL index: only for native removal, on _ts with the lifetime in the Cosmos DB mode', () => {
  assert.deepEqual(policy().ttlIndex, { key: { expires: 1 }, options: { expireAfterSeconds: 0 } });
  assert.equal(policy({ autoRemove: 'interval' }).ttlIndex, undefined);
  assert.equal(policy({ autoRemove: 'disabled' }).ttlIndex, undefined);
  assert.deepEqual(policy({ expiresKey: '_ts', expires: 1_500 }).ttlIndex, {
    key: { _ts: 1 },
    options: { expireAfterSeconds: 2 },
  });
  assert.deepEqual(policy({ expiresKey: '_ts', expiresAfterSeconds: 60 }).ttlIndex?.options, {
    expireAfterSeconds: 60,
  });
});

test('the lazy-touch memory is bounded, forgets the oldest first, and trusts nothing past its age', () => {
  const memory = new StoredExpiries(1_000, 2);
  const date = new Date(0);
  memory.read('a', date, 0);
  memory.read('b', date, 0);
  memory.read('c', date, 0);
  assert.equal(memory.size, 2);
  assert.equal(memory.recall('a', 0), undefined, 'the oldest went first');
  assert.equal(memory.recall('c', 1_000), date);
  assert.equal(memory.recall('c', 1_001), undefined, 'too old to trust');
  const off = new StoredExpiries(0);
  off.read('a', date, 0);
  assert.equal(off.size, 0, 'touchAfterMs 0 keeps nothing');
});

test('the lazy-touch memory: newer knowledge wins, and a write in flight is known at once', async () => {
  const memory = new StoredExpiries(HOUR);
  const old = new Date(1_000);
  const written = new Date(2_000);
  const readBefore = Date.now();
  memory.read('s', old, readBefore);
  let land = () => {};
  const write = memory.writing(
    's',
    written,
    () => new Promise<void>((resolve) => (land = resolve)),
  );
  assert.equal(memory.recall('s'), written, 'concurrent touches see the expiry being written');
  memory.read('s', old, Date.now() + 1);
  assert.equal(
    memory.recall('s'),
    written,
    'a read answered while the write is in flight is stale',
  );
  land();
  await write;
  memory.read('s', old, readBefore);
  assert.equal(memory.recall('s'), written, 'a read sent before the write landed is stale');
  const truth = new Date(3_000);
  memory.read('s', truth, Date.now() + 1);
  assert.equal(memory.recall('s'), truth, 'a read sent after it landed is the truth');
  await assert.rejects(
    memory.writing('s', new Date(4_000), () => Promise.reject(new Error('refused'))),
    /refused/,
  );
  assert.equal(memory.recall('s'), undefined, 'after a failed write, what is stored is unknown');
});
