/**
 * What "expired" means for the configured backend, and when a write is needed to move an expiry.
 * Plain functions of the resolved options: no I/O (the repository sends the queries, and
 * `expiry-tasks.ts` runs the index and sweep work).
 */
import type { Document, Filter } from 'mongodb';
import type { AutoRemoveOption, ResolvedOptions } from '../options/options.js';
import { setNewest } from '../support/bounded-map.js';
import type { ServerClock } from './server-clock.js';

/**
 * Azure Cosmos DB for MongoDB allows a TTL index only on its system field `_ts` (the time of a
 * document's last write, in epoch seconds, set by the server). Version 5's recipe for it is
 * `expiresKey: '_ts'`: the TTL index goes on `_ts`, and the store keeps its own expiry date in
 * this field, which it writes, reads and filters on instead.
 */
export const COSMOS_TTL_FIELD = '_ts';
export const COSMOS_EXPIRY_FIELD = 'expires';

/** The lazy-touch window never exceeds this share of a session's lifetime. */
export const TOUCH_WINDOW_SHARE = 0.1;

/** An index as the store wants it: key and options, ready for `createIndex`. */
export interface IndexSpec {
  readonly key: Readonly<Record<string, 1>>;
  readonly options: { readonly expireAfterSeconds: number } | { readonly unique: true };
}

export class ExpiryPolicy {
  /** The field holding the store's own expiry date: written on every write, filtered on by every read. */
  readonly field: string;
  /** Whether this is the Cosmos DB mode (`expiresKey: '_ts'`). */
  readonly cosmos: boolean;
  /** The mode asked for; `ExpiryTasks.autoRemove` says which one is in effect. */
  readonly autoRemove: AutoRemoveOption;
  /** The database server's clock, which every expiry decision reads. */
  readonly clock: ServerClock;
  readonly #touchAfterMs: number;
  readonly #ttl: IndexSpec;

  constructor(options: ResolvedOptions, clock: ServerClock) {
    this.clock = clock;
    this.cosmos = options.expiresKey === COSMOS_TTL_FIELD;
    this.field = this.cosmos ? COSMOS_EXPIRY_FIELD : options.expiresKey;
    this.autoRemove = options.autoRemove;
    this.#touchAfterMs = options.touchAfterMs;
    this.#ttl = {
      key: { [options.expiresKey]: 1 },
      options: { expireAfterSeconds: ttlSeconds(options, this.cosmos) },
    };
  }

  /** The TTL index, or none when nobody asked MongoDB to delete expired sessions. */
  get ttlIndex(): IndexSpec | undefined {
    return this.autoRemove === 'native' ? this.#ttl : undefined;
  }

  /** The fields a write sets besides the session: the expiry date (never `_ts`, which is Cosmos DB's). */
  expiryFields(expires: Date): Document {
    return { [this.field]: expires };
  }

  /**
   * `filter`, restricted to unexpired sessions. The TTL monitor runs about once a minute and some
   * backends have none, so every read filters. In the Cosmos DB mode a document without the
   * store's date (written by version 5, which wrote `_ts`) is left to Cosmos DB's own TTL.
   */
  unexpired(filter: Filter<Document>, now = new Date(this.clock.now())): Filter<Document> {
    const condition = this.cosmos ? { $not: { $lte: now } } : { $gt: now };
    return { ...filter, [this.field]: condition };
  }

  /**
   * Whether a document whose expiry field holds `stored` is unexpired: exactly what `unexpired()`
   * asks the server, checked here instead. A read looks a session up by id alone, the shape every
   * backend serves best (MongoDB from the `_id` index; FerretDB 1.x with SQLite evaluates a filter
   * in SQL only when it is `_id` alone), then checks the expiry it brought back.
   */
  isLive(stored: unknown, now = this.clock.now()): boolean {
    const expired = stored instanceof Date && stored.getTime() <= now;
    return this.cosmos ? !expired : stored instanceof Date && !expired;
  }

  /** The sessions expired by `now` in the server's time, for the sweep. */
  expired(now = new Date(this.clock.now())): Filter<Document> {
    return { [this.field]: { $lte: now } };
  }

  /**
   * Whether a touch must write: when the stored expiry lags behind the wanted one by the window
   * or more. The window is `touchAfterMs`, at most a tenth of the lifetime the touch asks for, so
   * that an active session is never more than that share short of its full lifetime. A touch
   * that ends the session, or moves its expiry back (a shorter cookie), always writes.
   */
  touchNeeded(stored: Date | undefined, wanted: Date, now: number): boolean {
    if (stored === undefined || this.#touchAfterMs === 0) return true;
    const lifetime = wanted.getTime() - now;
    const lag = wanted.getTime() - stored.getTime();
    if (lifetime <= 0 || lag < 0) return true;
    return lag >= Math.min(this.#touchAfterMs, lifetime * TOUCH_WINDOW_SHARE);
  }
}

/**
 * In the Cosmos DB mode the TTL counts from the last write, so `expireAfterSeconds` is the
 * session's lifetime; version 5's recipe sets it to `expires / 1000`, and `0` (never right
 * there: Cosmos DB would delete at once) means exactly that.
 */
function ttlSeconds(options: ResolvedOptions, cosmos: boolean): number {
  if (!cosmos || options.expiresAfterSeconds > 0) return options.expiresAfterSeconds;
  return Math.ceil(options.expiresMs / 1000);
}

interface Remembered {
  readonly expires: Date;
  /** When this became known: when the read that found it was sent, or when our write of it landed. */
  readonly at: number;
  /** Our writes of this session still in flight. */
  readonly writing: number;
}

/**
 * The stored expiry of recently read or written sessions, so that a touch right after a `get`
 * (express-session's order within a request) decides without a round trip. Bounded: the oldest
 * entries go first. An entry older than the touch window is not trusted: another process may
 * have written since.
 *
 * Newer knowledge wins. While one of our writes is in flight, concurrent touches see the expiry
 * it writes and do not write it again (many requests of one visitor at once would otherwise all
 * write when the window passes), and reads do not override it: they may have been answered
 * before it landed. A read sent before our last write landed (or in the same millisecond) is
 * ignored for the same reason.
 */
export class StoredExpiries {
  readonly #entries = new Map<string, Remembered>();
  readonly #limit: number;
  readonly #maxAgeMs: number;

  constructor(maxAgeMs: number, limit = 10_000) {
    this.#maxAgeMs = maxAgeMs;
    this.#limit = limit;
  }

  /** What a read sent at `sentAt` found stored. */
  read(sid: string, expires: Date, sentAt: number): void {
    const entry = this.#entries.get(sid);
    if (entry !== undefined && (entry.writing > 0 || entry.at >= sentAt)) return;
    this.#set(sid, { expires, at: sentAt, writing: 0 });
  }

  /**
   * Runs `write`, our write of `expires`: known at once to concurrent touches (from the call, so
   * before the write waits for its turn at the gate), trusted from when it lands, forgotten if it
   * fails (what is stored is then unknown) or if `stored` says it stored nothing.
   */
  async writing<R>(
    sid: string,
    expires: Date,
    write: () => Promise<R>,
    stored: (result: R) => boolean = () => true,
  ): Promise<R> {
    if (this.#maxAgeMs === 0) return write();
    const before = this.#entries.get(sid)?.writing ?? 0;
    this.#set(sid, { expires, at: Date.now(), writing: before + 1 });
    try {
      const result = await write();
      // A write that stored nothing (the session had ended or gone) leaves nothing to remember.
      if (!stored(result)) {
        this.#entries.delete(sid);
        return result;
      }
      const writing = Math.max(0, (this.#entries.get(sid)?.writing ?? 1) - 1);
      this.#set(sid, { expires, at: Date.now(), writing });
      return result;
    } catch (error) {
      this.#entries.delete(sid);
      throw error;
    }
  }

  /** The stored expiry, if known and fresh (or being written by us). */
  recall(sid: string, now = Date.now()): Date | undefined {
    const entry = this.#entries.get(sid);
    if (entry === undefined) return undefined;
    if (entry.writing === 0 && now - entry.at > this.#maxAgeMs) {
      this.#entries.delete(sid);
      return undefined;
    }
    return entry.expires;
  }

  forget(sid: string): void {
    this.#entries.delete(sid);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  #set(sid: string, entry: Remembered): void {
    if (this.#maxAgeMs === 0) return;
    setNewest(this.#entries, sid, entry, this.#limit);
  }
}
