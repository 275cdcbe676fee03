/**
 * A second store process for spec/session-termination.spec.ts: opens a `MongoDBStore` of its own
 * on the collection the spec's app uses, ends sessions there, prints one JSON line and exits.
 * The spec runs it with `node --import tsx` from the project's root.
 *
 * Environment: `MONGODB_URI`, `SPEC_DATABASE` and `SPEC_COLLECTION` (where the sessions are),
 * and `END`, one of:
 * - `destroy:<sid>`: `store.destroy(sid)`, as a logout served by this process would; prints
 *   `{ "destroyed": "<sid>" }`.
 * - `user:<name>`: `store.destroyWhere({ user: name })`; prints `{ "count": <how many> }`.
 */
import { MongoDBStore } from '../../lib/index.js';

const uri = process.env.MONGODB_URI;
const databaseName = process.env.SPEC_DATABASE;
const collection = process.env.SPEC_COLLECTION;
const end = process.env.END ?? '';
if (uri === undefined || databaseName === undefined || collection === undefined) {
  throw new Error('MONGODB_URI, SPEC_DATABASE and SPEC_COLLECTION must be set');
}

const store = new MongoDBStore({
  uri,
  databaseName,
  collection,
  // Nothing but the ending: the spec's own store manages the collection.
  autoRemove: 'disabled',
  manageIndexes: false,
  operationTimeoutMs: 5_000,
});
try {
  const separator = end.indexOf(':');
  const [kind, argument] = [end.slice(0, separator), end.slice(separator + 1)];
  if (separator <= 0 || argument === '') throw new Error(`END must be kind:argument, got ${end}`);
  if (kind === 'destroy') {
    await store.destroy(argument);
    console.log(JSON.stringify({ destroyed: argument }));
  } else if (kind === 'user') {
    const count = await store.destroyWhere({ user: argument });
    console.log(JSON.stringify({ count }));
  } else {
    throw new Error(`END names no known kind: ${kind}`);
  }
} finally {
  await store.close();
}
