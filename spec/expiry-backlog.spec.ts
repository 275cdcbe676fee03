/**
 * Large deletes: a sweep of 100 000 expired sessions, `clear()` of 100 000 and `destroy()` of
 * 40 000 ids. One `deleteMany` that large fails on FerretDB's SQLite backend ("too many SQL
 * variables" past 32 766 documents) and outlasts any deadline elsewhere; the store deletes in
 * bounded batches. FerretDB 1.x scans the whole collection for every filter it cannot hand to
 * SQL (about 7 s per 100 000 documents on SQLite here), so these specs give each operation a
 * deadline of two minutes; on MongoDB each batch is an index range.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Document } from 'mongodb';
import { DELETE_BATCH_SIZE } from '../lib/repository/bulk-operations.js';
import { SessionRepository } from '../lib/repository/session-repository.js';
import { useSpecDatabase } from './support/database.js';

const database = useSpecDatabase(import.meta.url);
const HOUR = 60 * 60 * 1000;
const DEADLINE_MS = 120_000;
const INSERT_BATCH = 5_000;

let collectionCount = 0;
function freshRepository() {
  collectionCount += 1;
  const collection = `backlog_${collectionCount}`;
  const repository = new SessionRepository({
    client: database.client,
    databaseName: database.databaseName,
    collection,
    operationTimeoutMs: DEADLINE_MS,
    autoRemove: 'disabled',
  });
  return { repository, raw: database.db.collection<Document>(collection) };
}

/**
 * `count` sessions in bulk, with ids in no particular order and expiries spread over 100 s
 * ending `offsetMs` from now (negative: expired).
 */
async function seed(
  raw: ReturnType<typeof freshRepository>['raw'],
  count: number,
  offsetMs: number,
  prefix = 's',
): Promise<void> {
  const now = Date.now();
  for (let start = 0; start < count; start += INSERT_BATCH) {
    const documents = Array.from({ length: Math.min(INSERT_BATCH, count - start) }, (_, i) => {
      const n = start + i;
      const expires = new Date(now + offsetMs - ((n * 7_919) % 100_000));
      return {
        _id: `${prefix}${((n * 104_729) % count).toString(36)}-${n}` as never,
        session: { cookie: { expires }, user: 'someone', views: n % 7 },
        expires,
      };
    });
    await raw.insertMany(documents, { ordered: false });
  }
}

describe('large deletes go in batches and succeed', { timeout: 20 * 60_000 }, () => {
  test('deleteExpired sweeps a backlog of 100 000 expired sessions and leaves the live ones', async (t) => {
    const { repository, raw } = freshRepository();
    t.after(() => repository.close());
    await seed(raw, 100_000, -1_000);
    await seed(raw, 1_000, HOUR, 'live');
    const started = Date.now();
    assert.equal(await repository.deleteExpired(), 100_000);
    t.diagnostic(
      `100 000 expired sessions swept in ${Date.now() - started} ms, batches of ${DELETE_BATCH_SIZE}`,
    );
    assert.equal(await raw.countDocuments({}), 1_000, 'the live sessions stay');
    assert.equal(await repository.length(), 1_000);
  });

  test('clear() deletes 100 000 sessions', async (t) => {
    const { repository, raw } = freshRepository();
    t.after(() => repository.close());
    await seed(raw, 100_000, HOUR);
    const started = Date.now();
    await repository.clear();
    t.diagnostic(`clear() of 100 000 sessions in ${Date.now() - started} ms`);
    assert.equal(await raw.countDocuments({}), 0);
  });

  test('destroy() of 40 000 ids ends exactly those', async (t) => {
    const { repository, raw } = freshRepository();
    t.after(() => repository.close());
    const ids = Array.from({ length: 40_000 }, (_, i) => `gone${i}`);
    const expires = new Date(Date.now() + HOUR);
    for (let start = 0; start < ids.length; start += INSERT_BATCH) {
      await raw.insertMany(
        ids
          .slice(start, start + INSERT_BATCH)
          .map((id) => ({ _id: id as never, session: {}, expires })),
      );
    }
    await raw.insertOne({ _id: 'kept' as never, session: {}, expires });
    const started = Date.now();
    await repository.destroy(ids);
    t.diagnostic(`destroy() of 40 000 ids in ${Date.now() - started} ms`);
    assert.deepEqual(
      (await raw.find({ endedAt: { $exists: false } }).toArray()).map((document) => document._id),
      ['kept'],
    );
    assert.equal(
      await raw.countDocuments({ endedAt: { $exists: true }, session: null }),
      40_000,
      'each id is kept as ended, with nothing of its session',
    );
  });
});
