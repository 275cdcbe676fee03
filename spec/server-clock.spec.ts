/**
 * Time is the database's: an app server whose clock is 2 h fast or slow loses no session and
 * serves no expired one. The skewed process is a child whose `Date` is shifted
 * (spec/support/skewed-clock-program.ts); this process's clock is the server's, both being this
 * machine's.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Document } from 'mongodb';
import { ServerClock, SKEW_TOLERANCE_MS } from '../lib/expiry/server-clock.js';
import { SessionRepository } from '../lib/index.js';
import { useSpecDatabase } from './support/database.js';
import { ROOT } from './support/sandbox.js';

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;
const PROGRAM = 'spec/support/skewed-clock-program.ts';
const runFile = promisify(execFile);
const database = useSpecDatabase(import.meta.url);
let collectionCount = 0;

/** Runs the skewed process on `collection` and gives what it printed. */
async function skewed(shiftMs: number, collection: string, action: string): Promise<Document> {
  const { stdout } = await runFile(process.execPath, ['--import', 'tsx', PROGRAM], {
    cwd: ROOT,
    timeout: 30_000,
    killSignal: 'SIGKILL',
    env: {
      PATH: process.env.PATH ?? '',
      MONGODB_URI: database.uri,
      SPEC_DATABASE: database.databaseName,
      SPEC_COLLECTION: collection,
      SHIFT_MS: String(shiftMs),
      ACTION: action,
    },
  });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as Document;
}

/** A collection of sessions with 30 and 90 minutes left, and one expired a minute ago. */
async function seeded() {
  collectionCount += 1;
  const collection = `clock_${collectionCount}`;
  const raw = database.db.collection<Document>(collection);
  const now = Date.now();
  await raw.insertMany([
    { _id: 'in30' as never, session: { views: 30 }, expires: new Date(now + 30 * MINUTE) },
    { _id: 'in90' as never, session: { views: 90 }, expires: new Date(now + 90 * MINUTE) },
    { _id: 'gone' as never, session: { views: 0 }, expires: new Date(now - MINUTE) },
  ]);
  return { collection, raw };
}

async function storedIds(raw: Awaited<ReturnType<typeof seeded>>['raw']): Promise<string[]> {
  return (await raw.find({}).toArray()).map((document) => String(document._id)).sort();
}

describe('a process whose clock runs 2 h fast', () => {
  test('sweeps only what has expired in the database’s time', async () => {
    const { collection, raw } = await seeded();
    const result = await skewed(2 * HOUR, collection, 'sweep');
    assert.equal(result.deleted, 1);
    assert.deepEqual(await storedIds(raw), ['in30', 'in90']);
    assert.deepEqual(result.warnings, ['SESSION_STORE_CLOCK_SKEW'], 'one warning says so');
  });

  test('serves the sessions with time left, and stores an hour-long one for an hour', async () => {
    const { collection, raw } = await seeded();
    const read = await skewed(2 * HOUR, collection, 'read:in30,in90,gone');
    assert.deepEqual(read.served, ['in30', 'in90']);
    const before = Date.now();
    assert.equal((await skewed(2 * HOUR, collection, 'write:new')).outcome, 'created');
    const expires = (await raw.findOne({ _id: 'new' as never }))?.expires as Date;
    assert.ok(Math.abs(expires.getTime() - (before + HOUR)) < 5 * MINUTE, 'an hour, not three');
  });
});

describe('a process whose clock runs 2 h slow', () => {
  test('serves no session that has expired in the database’s time', async () => {
    const { collection } = await seeded();
    const read = await skewed(-2 * HOUR, collection, 'read:in30,in90,gone');
    assert.deepEqual(read.served, ['in30', 'in90']);
    assert.deepEqual(read.warnings, ['SESSION_STORE_CLOCK_SKEW']);
  });

  test('loses no session it writes: an hour-long cookie by its clock lives an hour', async (t) => {
    const { collection, raw } = await seeded();
    const before = Date.now();
    assert.equal((await skewed(-2 * HOUR, collection, 'write:new')).outcome, 'created');
    const expires = (await raw.findOne({ _id: 'new' as never }))?.expires as Date;
    assert.ok(Math.abs(expires.getTime() - (before + HOUR)) < 5 * MINUTE, 'an hour from now');
    const repository = new SessionRepository({
      client: database.client,
      databaseName: database.databaseName,
      collection,
      autoRemove: 'disabled',
      manageIndexes: false,
    });
    t.after(() => repository.close());
    assert.equal((await repository.get('new'))?.views, 1, 'served here too');
    assert.equal(await repository.deleteExpired(), 1, 'and not swept: only the expired one goes');
  });

  test('its touch of a session stored as a string (connect-mongo’s form) keeps it an hour', async () => {
    const { collection, raw } = await seeded();
    const cookie = { originalMaxAge: HOUR, expires: new Date(Date.now() + 30 * MINUTE) };
    const session = JSON.stringify({ cookie, views: 7 });
    await raw.insertOne({ _id: 'text' as never, session, expires: cookie.expires });
    const before = Date.now();
    assert.equal((await skewed(-2 * HOUR, collection, 'touch:text')).touched, true);
    const expires = (await raw.findOne({ _id: 'text' as never }))?.expires as Date;
    assert.ok(Math.abs(expires.getTime() - (before + HOUR)) < 5 * MINUTE, 'an hour from now');
  });

  test('its sweep deletes nothing that is still live, and the expired one too', async () => {
    const { collection, raw } = await seeded();
    assert.equal((await skewed(-2 * HOUR, collection, 'sweep')).deleted, 1);
    assert.deepEqual(await storedIds(raw), ['in30', 'in90']);
  });
});

describe('the measured offset', () => {
  test('within the tolerance the clocks are taken to agree; past it the server’s time is used', () => {
    const clock = new ServerClock();
    const sent = Date.now();
    clock.observe(new Date(sent + SKEW_TOLERANCE_MS - 100), sent, sent);
    assert.equal(clock.offsetMs, 0);
    const local = new Date(sent);
    assert.equal(clock.toServer(local), local, 'nothing moves within the tolerance');
    clock.observe(new Date(sent + 2 * HOUR + 10), sent, sent + 20);
    assert.equal(clock.offsetMs, 2 * HOUR);
    assert.equal(clock.toServer(local).getTime(), sent + 2 * HOUR);
    assert.ok(Math.abs(clock.now() - (Date.now() + 2 * HOUR)) < 1_000);
  });

  test('a reply without localTime leaves the offset as it was', () => {
    const clock = new ServerClock();
    clock.observe(new Date(Date.now() - HOUR), Date.now(), Date.now());
    clock.observe(undefined, Date.now(), Date.now());
    assert.ok(Math.abs(clock.offsetMs + HOUR) < 1_000);
  });
});
