/**
 * One session's document in the collection: the filters that find it, the statements that write,
 * touch and end it (with what they must allow for: a concurrent insert of the same id, a
 * tombstone holding the id, FerretDB keeping old keys of a rewritten object), and the decoding of
 * what a read found. The repository decides which of these an operation runs, and when.
 */
import type { Collection, Document, Filter } from 'mongodb';
import { ignoresKeysInSet, type KeyShapes, REWRITE_MARK } from '../codec/key-shapes.js';
import type { EncodedSession, EncodedTouch } from '../codec/session-codec.js';
import type { SessionDocument, SessionLike, StoredSession } from '../codec/session-types.js';
import type { UnreadableSessionError } from '../errors/classes.js';
import { debug, described } from '../errors/debug.js';
import { isDuplicateOf, serverCode } from '../errors/driver-errors.js';
import { SERVER_CODES } from '../errors/server-codes.js';
import { DECODING, storeError } from '../errors/wrapping.js';
import type { TimeLimit } from './operations.js';
import type { RepositoryParts } from './repository-parts.js';

/** What `SessionDocuments` needs beside the repository's parts. */
interface DocumentNeeds {
  /** The keys of the sessions the last reads and writes saw, for FerretDB's `$set` (key-shapes.ts). */
  readonly shapes: KeyShapes;
  /** Settles once the unique index has been tried: an upsert waits for it (`ExpiryTasks`). */
  readonly uniqueIndexTried: () => Promise<void>;
  /** A stored session could not be read; the read goes on as if there were none. */
  readonly unreadable: ((error: UnreadableSessionError) => void) | undefined;
}

/** What a touch found: the session, touched; none to touch; or an ended one, which refuses it. */
type TouchOutcome = 'touched' | 'absent' | 'refused';

/** A write of the session `sid`, stored under `id`, at `now`; `encoded`'s expiry is in the server's time. */
interface Write<E> {
  readonly sid: string;
  readonly id: string;
  readonly encoded: E;
  readonly now: number;
}

/** A touch carries the session too, written whole where its cookie cannot be set alone. */
interface TouchWrite extends Write<EncodedTouch> {
  readonly session: object;
}

/** Where a touch writes the cookie of a session stored as a document. */
const COOKIE_PATH = 'session.cookie';

export class SessionDocuments<T extends SessionLike> {
  readonly #parts: RepositoryParts;
  readonly #needs: DocumentNeeds;
  readonly #idField: string;

  constructor(parts: RepositoryParts, needs: DocumentNeeds) {
    this.#parts = parts;
    this.#needs = needs;
    this.#idField = parts.options.idField;
  }

  /** The document of the stored id. */
  byId(storedId: string): Filter<Document> {
    return { [this.#idField]: storedId };
  }

  /** `filter`, restricted to sessions neither expired nor ended at `now` (the server's time). */
  live(filter: Filter<Document>, now = this.#parts.expiry.clock.now()): Filter<Document> {
    const { expiry, lifecycle } = this.#parts;
    return lifecycle.live(expiry.unexpired(filter, new Date(now)), now);
  }

  /** Turns the document `filter` selects into a tombstone, unless it is one already. */
  async end(
    sessions: Collection<SessionDocument>,
    filter: Filter<Document>,
    now: number,
    limit: TimeLimit,
  ): Promise<void> {
    const { lifecycle } = this.#parts;
    await sessions.updateOne(lifecycle.notEnded(filter), lifecycle.ending(now), limit);
  }

  /** Inserts or replaces a live session: `'refused'` where the id is held by an ended session. */
  async upsert(
    sessions: Collection<SessionDocument>,
    limit: TimeLimit,
    { sid, id, encoded, now }: Write<EncodedSession>,
  ): Promise<'created' | 'updated' | 'refused'> {
    const { shapes } = this.#needs;
    const filter = this.#parts.lifecycle.live(this.byId(id), now);
    const update = this.#written(encoded, now);
    const need = shapes.sessionNeed(sid, encoded.session);
    const write = (mark: string | undefined) =>
      updated(sessions, filter, update, { mark, upsert: true, limit });
    await this.#needs.uniqueIndexTried();
    const written = await upsertLive(this.#idField, async () => {
      const first = await write(need === 'mark' ? 'session' : undefined);
      // It found a stored session whose keys were not known: FerretDB may have kept it.
      if (need === 'unknown' && first.upsertedCount === 0) return write('session');
      return first;
    });
    if (written === ENDED) return 'refused';
    shapes.remember(sid, encoded.session);
    return written.upsertedCount > 0 ? 'created' : 'updated';
  }

  /** Moves the expiry (and the stored cookie) of a live session forward; see `TouchOutcome`. */
  async touch(
    sessions: Collection<SessionDocument>,
    limit: TimeLimit,
    { sid, id, session, encoded, now }: TouchWrite,
  ): Promise<TouchOutcome> {
    const { codec, expiry, lifecycle } = this.#parts;
    const { shapes } = this.#needs;
    const byId = this.byId(id);
    const filter = this.live(byId, now);
    const times = lifecycle.written(now);
    const changes: Document = {
      ...encoded.set,
      ...expiry.expiryFields(encoded.expires),
      ...times.$set,
    };
    const cookie = encoded.set[COOKIE_PATH];
    const mark = shapes.cookieNeed(sid, cookie) === 'none' ? undefined : COOKIE_PATH;
    let touched: boolean;
    try {
      const update = { $set: changes, $min: times.$min };
      touched = (await updated(sessions, filter, update, { mark, limit })).matchedCount > 0;
    } catch (error) {
      if (serverCode(error) !== SERVER_CODES.PathNotViable) throw error;
      // The stored session is a string (another store's form, or another serializer's):
      // its cookie cannot be set alone, so the whole session is written in this store's form,
      // its expiry in the server's time as every other write's.
      const whole = this.serverTimed(codec.encode(id, session));
      const update = this.#written(whole, now);
      const replaced = await updated(sessions, filter, update, { mark: 'session', limit });
      shapes.remember(sid, whole.session);
      touched = replaced.matchedCount > 0;
    }
    if (touched) {
      if (cookie !== undefined) shapes.rememberCookie(sid, cookie);
      return 'touched';
    }
    // Nothing matched: the session is missing, expired, or ended. Only the last is news.
    const found = await sessions.findOne(byId, { projection: lifecycle.projection, ...limit });
    return found !== null && lifecycle.state(found, now) !== 'live' ? 'refused' : 'absent';
  }

  /** An unreadable stored session reads as no session (the visitor starts afresh), and is reported. */
  decode(stored: unknown, storedId: string): T | null {
    try {
      return this.#parts.codec.decode(stored, storedId) as T;
    } catch (error) {
      this.#needs.unreadable?.(storeError(error, DECODING));
      return null;
    }
  }

  /** A stored document as the iterator and `all()` yield it; none when it cannot be read. */
  fromDocument(document: SessionDocument): Array<StoredSession<T>> {
    const id = String(document[this.#idField]);
    const session = this.decode(document.session, id);
    if (session === null) return [];
    return [{ id, session, expires: document[this.#parts.expiry.dateField] as Date }];
  }

  /**
   * Learns what the server does differently from MongoDB that the writes must allow for
   * (key-shapes.ts). Never rejects: where `buildInfo` fails, the server is taken for MongoDB.
   */
  async learnQuirks(sessions: Collection<SessionDocument>): Promise<void> {
    try {
      const reply = await sessions.db.command({ buildInfo: 1 });
      if (!ignoresKeysInSet(reply)) return;
      debug('FerretDB 1.x: writes whose keys change mark the stored session first');
      this.#needs.shapes.enable();
    } catch (error) {
      debug('buildInfo failed (%s); the server is taken for MongoDB', described(error));
    }
  }

  /** An encoded session or touch whose expiry, reckoned by this process's clock, is in the server's time. */
  serverTimed<E extends { readonly expires: Date }>(encoded: E): E {
    return { ...encoded, expires: this.#parts.expiry.clock.toServer(encoded.expires) };
  }

  /** The update that writes a whole session, its expiry and its audit times. */
  #written({ session, expires }: EncodedSession, now: number): Document {
    const times = this.#parts.lifecycle.written(now);
    return {
      $set: { session, ...this.#parts.expiry.expiryFields(expires), ...times.$set },
      $min: times.$min,
    };
  }
}

/** What an update matched and inserted, from one statement or a marked pair. */
interface Updated {
  readonly matchedCount: number;
  readonly upsertedCount: number;
}

/**
 * One update of the document `filter` selects. With `mark` (`'session'` or `'session.cookie'`),
 * the same command first adds `REWRITE_MARK` to the stored document at that path, if it is one,
 * so that FerretDB cannot take the new value for the old one (key-shapes.ts): two statements,
 * in order, over the same filter, so the counts of the second are the counts of both.
 */
async function updated(
  sessions: Collection<SessionDocument>,
  filter: Filter<Document>,
  update: Document,
  {
    mark,
    upsert = false,
    limit,
  }: { readonly mark: string | undefined; readonly upsert?: boolean; readonly limit: TimeLimit },
): Promise<Updated> {
  const options = { upsert, ignoreUndefined: true, ...limit };
  if (mark === undefined) return sessions.updateOne(filter, update, options);
  const marking = {
    filter: { ...filter, [mark]: { $type: 'object' } },
    update: { $set: { [`${mark}.${REWRITE_MARK}`]: true } },
  };
  const result = await sessions.bulkWrite(
    [{ updateOne: marking }, { updateOne: { filter, update, upsert } }],
    { ordered: true, ignoreUndefined: true, ...limit },
  );
  // The mark matches only where the write does too: the write's own match is either count.
  return {
    matchedCount: Math.min(result.matchedCount, 1),
    upsertedCount: result.upsertedCount,
  };
}

/** What `upsertLive` gives when the id is held by an ended session. */
const ENDED = Symbol('ended');

/**
 * Concurrent upserts of one id can both try to insert; the loser tries again and finds the
 * winner's document. A duplicate on another unique index (one of the application's) is an error.
 */
export async function retriedOnDuplicate<R>(idField: string, write: () => Promise<R>): Promise<R> {
  try {
    return await write();
  } catch (error) {
    if (!isDuplicateOf(error, idField)) throw error;
    return write();
  }
}

/**
 * An upsert of a live session. Its filter matches no ended document, so where the id is held by
 * one the insert meets the id's unique index (E11000). The first such error may also be a
 * concurrent insert of a new id, which the second try finds and updates; a second one means the
 * id is held by an ended session.
 */
async function upsertLive(
  idField: string,
  write: () => Promise<Updated>,
): Promise<Updated | typeof ENDED> {
  try {
    return await retriedOnDuplicate(idField, write);
  } catch (error) {
    if (!isDuplicateOf(error, idField)) throw error;
    return ENDED;
  }
}
