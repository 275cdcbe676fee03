/**
 * Deletes and ends of many sessions, cut into steps that each fit in one deadline: `clear` and
 * sweeps of expired sessions delete, and the filter form of `destroyWhere` ends, by ranges of
 * `_id`; the predicate form of `destroyWhere` ends by lists of ids. The repository runs each
 * step through the gate.
 */
import type { Collection, Document, Filter, UpdateFilter } from 'mongodb';
import type { SessionPredicate } from './session-filter.js';
import type { SessionDocument, SessionLike, StoredSession } from './session-types.js';

/**
 * Deletes of many sessions go in batches of at most this many, each its own operation with its
 * own deadline: one `deleteMany` over a large backlog can outlast any deadline, and FerretDB's
 * SQLite backend refuses one matching more than 32 766 documents ("too many SQL variables").
 * FerretDB scans the whole collection for every delete, so batches are as large as it allows
 * with room to spare.
 */
export const DELETE_BATCH_SIZE = 20_000;

/**
 * The predicate form of `destroyWhere` deletes the ids it selected in lists of at most this many.
 * FerretDB compares every document of the collection with every id of an `$in` list, so a list
 * of this length costs about one more scan of the collection there, and a step stays within
 * what a sweep's step costs; on MongoDB each id is one lookup in the index.
 */
export const DESTROY_LIST_SIZE = 1_000;

/** Runs one step on the session collection, as one operation with its own deadline. */
type Step = <R>(run: (sessions: Collection<SessionDocument>) => Promise<R>) => Promise<R>;

/** Deletes the documents matching `filter` in batches (see `inBatches`); resolves with how many. */
export function deleteInBatches(filter: Filter<Document>, step: Step): Promise<number> {
  return inBatches(filter, step, async (sessions, batch) => {
    const { deletedCount } = await sessions.deleteMany(batch);
    return deletedCount;
  });
}

/**
 * Applies `ending` (the update that turns a session into a tombstone) to the documents matching
 * `filter` in batches; `filter` must no longer match a document once it has ended, so that each
 * batch moves on. Resolves with how many ended.
 */
export function endInBatches(
  filter: Filter<Document>,
  step: Step,
  ending: () => UpdateFilter<Document>,
): Promise<number> {
  return inBatches(filter, step, async (sessions, batch) => {
    const { modifiedCount } = await sessions.updateMany(batch, ending());
    return modifiedCount;
  });
}

/**
 * Applies `write` to the documents matching `filter`, at most `DELETE_BATCH_SIZE` at a time: the
 * id of the batch's last document (in `_id` order) is read, then `write` is given the filter of
 * everything matching up to it, each step its own operation. Ids are unique, so a batch never
 * grows past its size, and its filter is a range, which every backend evaluates cheaply (a long
 * `$in` list is not: FerretDB compares each document with every id). Resolves with how many
 * documents `write` says it changed.
 */
async function inBatches(
  filter: Filter<Document>,
  step: Step,
  write: (sessions: Collection<SessionDocument>, batch: Filter<Document>) => Promise<number>,
): Promise<number> {
  const edgeOptions = {
    projection: { _id: 1 },
    sort: { _id: 1 },
    skip: DELETE_BATCH_SIZE - 1,
    limit: 1,
  } as const;
  for (let deleted = 0; ; ) {
    const edge = await step((sessions) => sessions.findOne(filter, edgeOptions));
    const batch = edge === null ? filter : { ...filter, _id: { $lte: edge._id } };
    const changed = await step((sessions) => write(sessions, batch));
    deleted += changed;
    if (edge === null || changed === 0) return deleted;
  }
}

/**
 * Calls `predicate` on each session of `scan`, one at a time, and ends those it chose through
 * `deleteIds` (which resolves with how many it ended), in lists of `DESTROY_LIST_SIZE`. A predicate that throws ends the scan: what it
 * chose before is deleted, then its error is the one thrown. Resolves with how many were deleted.
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
    if (selected.length >= DESTROY_LIST_SIZE) await flush();
  }
  await flush();
  return destroyed;
}
