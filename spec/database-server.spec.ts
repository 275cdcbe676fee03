import assert from 'node:assert/strict';
import { test } from 'node:test';
import { specBackend, useSpecDatabase } from './support/database.js';

interface Row {
  _id: string;
  value: number;
}

const database = useSpecDatabase(import.meta.url);

test('the test server answers ping', async () => {
  const reply = await database.client.db('admin').command({ ping: 1 });
  assert.equal(reply.ok, 1);
});

// FerretDB's explain hands on its backend's own query plan: PostgreSQL's EXPLAIN (FORMAT JSON)
// object, with a "Node Type", or SQLite's EXPLAIN QUERY PLAN rows, as strings.
test("the run's FerretDB backend is the one it names", async (t) => {
  const backend = specBackend();
  if (backend !== 'sqlite' && backend !== 'postgresql') {
    t.skip(`the server is ${backend}, not a FerretDB the run started`);
    return;
  }
  const rows = database.db.collection<Row>('backend');
  await rows.insertOne({ _id: 'x', value: 1 });
  const plan: unknown = (await rows.find({ value: 1 }).explain()).queryPlanner?.Plan;
  const isPostgreSQLPlan = typeof plan === 'object' && plan !== null && 'Node Type' in plan;
  assert.equal(isPostgreSQLPlan, backend === 'postgresql', JSON.stringify(plan));
});

test('an inserted document can be found again', async () => {
  const rows = database.db.collection<Row>('insert_find');
  await rows.insertOne({ _id: 'a', value: 1 });
  assert.deepEqual(await rows.findOne({ _id: 'a' }), { _id: 'a', value: 1 });
  assert.equal(await rows.findOne({ _id: 'missing' }), null);
});

test('an upsert inserts once and then updates in place', async () => {
  const rows = database.db.collection<Row>('upsert');
  const first = await rows.updateOne({ _id: 'u' }, { $set: { value: 1 } }, { upsert: true });
  assert.equal(first.upsertedCount, 1);
  const second = await rows.updateOne({ _id: 'u' }, { $set: { value: 2 } }, { upsert: true });
  assert.equal(second.upsertedCount, 0);
  assert.equal(second.modifiedCount, 1);
  assert.deepEqual(await rows.find({}).toArray(), [{ _id: 'u', value: 2 }]);
});

test('a deleted document is gone', async () => {
  const rows = database.db.collection<Row>('delete');
  await rows.insertMany([
    { _id: 'keep', value: 1 },
    { _id: 'drop', value: 2 },
  ]);
  const result = await rows.deleteOne({ _id: 'drop' });
  assert.equal(result.deletedCount, 1);
  assert.deepEqual(await rows.find({}).toArray(), [{ _id: 'keep', value: 1 }]);
});

test('a created index is listed and enforces uniqueness', async () => {
  const rows = database.db.collection<Row>('indexes');
  const name = await rows.createIndex({ value: 1 }, { unique: true, name: 'value_unique' });
  assert.equal(name, 'value_unique');
  const indexes = await rows.listIndexes().toArray();
  const created = indexes.find((index) => index.name === 'value_unique');
  assert.deepEqual(created?.key, { value: 1 });
  assert.equal(created?.unique, true);
  await rows.insertOne({ _id: 'one', value: 7 });
  await assert.rejects(rows.insertOne({ _id: 'two', value: 7 }), { code: 11000 });
});
