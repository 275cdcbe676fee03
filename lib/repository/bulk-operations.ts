/**
 * Deletes and ends of many sessions, cut into steps, each its own operation through the gate
 * with its own deadline (`Step`). One rule sizes every step: it costs FerretDB, the slowest
 * backend, about one scan of the collection, and matches no more than its SQLite backend takes
 * in one statement. Two shapes of filter follow from it:
 *
 * - A range of `_id` (`clear`, sweeps of expired sessions) costs one scan whatever its length:
 *   batches of `DELETE_BATCH_SIZE`, under SQLite's limit with room to spare.
 * - A list of ids, `{ <idField>: { $in: ids } }` (`destroy` of many ids, both forms of
 *   `destroyWhere`), costs a comparison of every document with every id: lists of
 *   `DESTROY_LIST_SIZE`. Ids are cut by `idLists` (or gathered up to `isFull`) and the filter
 *   built by `amongIds`, which refuses a longer list: no other code writes an `$in` of ids.
 */
import type { Collection, Document, Filter, UpdateFilter } from 'mongodb';
import type { SessionPredicate } from '../codec/session-filter.js';
import type { SessionDocument, SessionLike, StoredSession } from '../codec/session-types.js';
import { isDuplicateOf } from '../errors/driver-errors.js';
import type { SessionStep, TimeLimit } from './operations.js';
import { retriedOnDuplicate } from './session-documents.js';

/**
 * Deletes of many sessions go in batches of at most this many, each its own operation with its
 * own deadline: one `deleteMany` over a large backlog can outlast any deadline, and FerretDB's
 * SQLite backend refuses one matching more than 32 766 documents ("too many SQL variables").
 * FerretDB scans the whole collection for every delete, so batches are as large as it allows
 * with room to spare.
 */
export const DELETE_BATCH_SIZE = 20_000;

/**
 * An `$in` list of ids holds at most this many, wherever the store sends one. FerretDB compares
 * every document of the collection with every id of an `$in` list, so a list of this length
 * costs about one more scan of the collection there, and a step stays within what a sweep's step
 * costs; on MongoDB each id is one lookup in the index.
 */
export const DESTROY_LIST_SIZE = 1_000;

/** `ids` cut into lists of at most `DESTROY_LIST_SIZE`, in order. */
function idLists(ids: readonly string[]): string[][] {
  const lists: string[][] = [];
  for (let start = 0; start < ids.length; start += DESTROY_LIST_SIZE) {
    lists.push(ids.slice(start, start + DESTROY_LIST_SIZE));
  }
  return lists;
}

/** Whether a list of ids being gathered has reached `DESTROY_LIST_SIZE`, and goes as it is. */
function isFull(ids: readonly string[]): boolean {
  return ids.length >= DESTROY_LIST_SIZE;
}

/**
 * `filter`, narrowed to the documents whose id is one of `ids`: the only `$in` of ids the store
 * sends. A list longer than `DESTROY_LIST_SIZE` is a mistake of the caller's (cut it with
 * `idLists`), refused before anything is sent.
 */
function amongIds(
  filter: Filter<Document>,
  idField: string,
  ids: readonly string[],
): Filter<Document> {
  if (ids.length > DESTROY_LIST_SIZE) {
    throw new RangeError(
      `Expected a list of at most ${DESTROY_LIST_SIZE} ids (DESTROY_LIST_SIZE), got ${ids.length}`,
    );
  }
  return { ...filter, [idField]: { $in: ids } };
}

/**
 * Runs one step on the session collection, as one operation with its own deadline, whose rest
 * goes to the server with each command (`limit`).
 */
type Step = <R>(step: SessionStep<R>) => Promise<R>;

/**
 * How the sessions of a list of ids end: each id's document is replaced by a tombstone
 * (session-ends.ts). `notEnded(filter)` restricts a filter to documents that are not tombstones.
 */
interface Ending {
  readonly idField: string;
  /** Now, in the database server's time. */
  now(): number;
  tombstone(id: string, now: number): Document;
  ending(now: number): UpdateFilter<Document>;
  notEnded(filter: Filter<Document>): Filter<Document>;
}

/**
 * Ends the sessions of `ids` that match `filter`, and resolves with how many it deleted. One
 * update per document is what FerretDB does slowest (about 70 ms each on SQLite, where deleting
 * a thousand takes 0.4 s), so the list is deleted and tombstones are inserted in its place, two
 * commands whatever its length. A write of one of these ids that lands between the two makes
 * its tombstone's insert fail with E11000; that document is then turned into a tombstone where
 * it stands, if it still matches `filter`. Once this resolves, every id it deleted is ended.
 */
export async function endListed(
  sessions: Collection<SessionDocument>,
  ids: readonly string[],
  filter: Filter<Document>,
  ending: Ending,
  limit: TimeLimit,
): Promise<number> {
  const now = ending.now();
  const { idField } = ending;
  const { deletedCount } = await sessions.deleteMany(amongIds(filter, idField, ids), limit);
  const records = ids.map((id) => ending.tombstone(id, now));
  const taken = await insertedBut(sessions, records, idField, limit);
  if (taken.length > 0) {
    const held = taken.map((index) => ids[index] as string);
    const written = ending.notEnded(amongIds(filter, idField, held));
    await sessions.updateMany(written, ending.ending(now), limit);
  }
  return deletedCount;
}

/**
 * Ends the sessions of `ids`, however many: a list of `DESTROY_LIST_SIZE` at most a step, ended
 * by `endListed`, and a single id by an upsert of its tombstone (so an id never stored is ended
 * too). A step that fails leaves the later lists undone.
 */
export async function endIds(ids: readonly string[], step: Step, ending: Ending): Promise<void> {
  const { idField } = ending;
  for (const list of idLists(ids)) {
    const [only] = list;
    if (list.length > 1 || only === undefined) {
      // Many ids: deleted, and their records inserted, in two commands.
      await step((sessions, limit) => endListed(sessions, list, {}, ending, limit));
      continue;
    }
    await step(async (sessions, limit) => {
      const update = ending.ending(ending.now());
      // Two ends of one id never stored can both try to insert it: the loser tries again.
      await retriedOnDuplicate(idField, () =>
        sessions.updateOne({ [idField]: only }, update, { upsert: true, ...limit }),
      );
    });
  }
}

/** Inserts `documents`, and gives the indexes of those whose id another document already held. */
async function insertedBut(
  sessions: Collection<SessionDocument>,
  documents: readonly Document[],
  idField: string,
  limit: TimeLimit,
): Promise<number[]> {
  try {
    await sessions.insertMany(documents as SessionDocument[], { ordered: false, ...limit });
    return [];
  } catch (error) {
    const failed = (error as { writeErrors?: unknown }).writeErrors;
    const duplicates = Array.isArray(failed) ? (failed as WriteFailure[]) : [];
    const ofId = (failure: WriteFailure) => isDuplicateOf(failure, idField);
    if (duplicates.length === 0 || !duplicates.every(ofId)) throw error;
    return duplicates.map(({ index }) => index);
  }
}

interface WriteFailure {
  readonly index: number;
  readonly code: number;
}

/**
 * Ends the sessions matching `filter` (which must hold the id's live conditions, so that an
 * ended one no longer matches), `DESTROY_LIST_SIZE` at a time: their ids are read, then ended by
 * `endListed`, each step its own operation. Resolves with how many ended.
 */
export async function endMatching(
  filter: Filter<Document>,
  step: Step,
  ending: Ending,
): Promise<number> {
  const { idField } = ending;
  const projection = idField === '_id' ? { _id: 1 } : { _id: 0, [idField]: 1 };
  for (let ended = 0; ; ) {
    const found = await step((sessions, limit) =>
      sessions
        .find(filter, {
          projection,
          limit: DESTROY_LIST_SIZE,
          batchSize: DESTROY_LIST_SIZE,
          ...limit,
        })
        .toArray(),
    );
    const ids = found.map((document) => String(document[idField]));
    if (ids.length > 0) {
      ended += await step((sessions, limit) => endListed(sessions, ids, filter, ending, limit));
    }
    if (!isFull(ids)) return ended;
  }
}

/**
 * Deletes the documents matching `filter`, at most `DELETE_BATCH_SIZE` at a time: the id of the
 * batch's last document (in `_id` order) is read, then everything matching up to it is deleted,
 * each step its own operation. Ids are unique, so a batch never grows past its size, and its
 * filter is a range, which every backend evaluates cheaply (a long `$in` list is not: FerretDB
 * compares each document with every id). Resolves with how many were deleted.
 */
export async function deleteInBatches(filter: Filter<Document>, step: Step): Promise<number> {
  const edgeOptions = {
    projection: { _id: 1 },
    sort: { _id: 1 },
    skip: DELETE_BATCH_SIZE - 1,
    limit: 1,
  } as const;
  for (let deleted = 0; ; ) {
    const edge = await step((sessions, limit) =>
      sessions.findOne(filter, { ...edgeOptions, ...limit }),
    );
    const batch = edge === null ? filter : { ...filter, _id: { $lte: edge._id } };
    const result = await step((sessions, limit) => sessions.deleteMany(batch, limit));
    deleted += result.deletedCount;
    if (edge === null || result.deletedCount === 0) return deleted;
  }
}

/**
 * Calls `predicate` on each session of `scan`, one at a time, and ends those it chose through
 * `deleteIds` (which resolves with how many it ended), in lists of `DESTROY_LIST_SIZE`. A
 * predicate that throws ends the scan: what it chose before is deleted, then its error is the
 * one thrown. Resolves with how many were deleted.
 */
export async function destroySelected<T extends SessionLike>(
  scan: AsyncIterable<StoredSession<T>>,
  predicate: SessionPredicate<T>,
  deleteIds: (ids: readonly string[]) => Promise<number>,
): Promise<number> {
  let destroyed = 0;
  let selected: string[] = [];
  const flush = async () => {
    const ids = selected;
    selected = [];
    if (ids.length === 0) return;
    destroyed += await deleteIds(ids);
  };
  for await (const { id, session } of scan) {
    let chosen: boolean;
    try {
      chosen = Boolean(await predicate(session, id));
    } catch (error) {
      // What the predicate chose before it threw is carried out; its error is the one to report.
      await flush().catch(() => undefined);
      throw error;
    }
    if (!chosen) continue;
    selected.push(id);
    if (isFull(selected)) await flush();
  }
  await flush();
  return destroyed;
}
