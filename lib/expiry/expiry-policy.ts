/**
 * What "expired" means for the configured backend, and when a write is needed to move an expiry.
 * Plain functions of the resolved options: no I/O (the repository sends the queries,
 * `expiry-tasks.ts` runs the index and sweep work, and `lazy-touch.ts` remembers stored expiries).
 */
import type { Document, Filter } from 'mongodb';
import type { AutoRemoveOption } from '../options/option-types.js';
import type { ResolvedOptions } from '../options/options.js';
import type { ServerClock } from './server-clock.js';

/**
 * Azure Cosmos DB for MongoDB allows a TTL index only on its system field `_ts` (the time of a
 * document's last write, in epoch seconds, set by the server). Version 5's recipe for it is
 * `expiresKey: '_ts'`: the TTL index goes on `_ts`, and the store keeps its own expiry date in
 * `expires` (`COSMOS_DATE_FIELD`), which it writes, reads and filters on instead. So `expiresKey`
 * names the field the TTL index is on; `ExpiryPolicy.dateField` the one that holds the date.
 */
const COSMOS_TTL_FIELD = '_ts';
const COSMOS_DATE_FIELD = 'expires';

/** The lazy-touch window never exceeds this share of a session's lifetime. */
const TOUCH_WINDOW_SHARE = 0.1;

/** An index as the store wants it: key and options, ready for `createIndex`. */
export interface IndexSpec {
  readonly key: Readonly<Record<string, 1>>;
  readonly options: { readonly expireAfterSeconds: number } | { readonly unique: true };
}

export class ExpiryPolicy {
  /**
   * The field holding the store's own expiry date: written on every write, filtered on by every
   * read. `expiresKey`, but in the Cosmos DB mode, where `expiresKey` is `_ts` and the date is
   * kept in `expires`.
   */
  readonly dateField: string;
  /** Whether this is the Cosmos DB mode (`expiresKey: '_ts'`). */
  readonly cosmos: boolean;
  /** The mode asked for; `ExpiryTasks.autoRemoveInEffect` says which one is in effect. */
  readonly autoRemoveAsked: AutoRemoveOption;
  /** The database server's clock, which every expiry decision reads. */
  readonly clock: ServerClock;
  readonly #touchAfterMs: number;
  readonly #ttl: IndexSpec;

  constructor(options: ResolvedOptions, clock: ServerClock) {
    this.clock = clock;
    this.cosmos = options.expiresKey === COSMOS_TTL_FIELD;
    this.dateField = this.cosmos ? COSMOS_DATE_FIELD : options.expiresKey;
    this.autoRemoveAsked = options.autoRemove;
    this.#touchAfterMs = options.touchAfterMs;
    this.#ttl = {
      key: { [options.expiresKey]: 1 },
      options: { expireAfterSeconds: ttlSeconds(options, this.cosmos) },
    };
  }

  /** The TTL index, or none when nobody asked MongoDB to delete expired sessions. */
  get ttlIndex(): IndexSpec | undefined {
    return this.autoRemoveAsked === 'native' ? this.#ttl : undefined;
  }

  /** The fields a write sets besides the session: the expiry date (never `_ts`, which is Cosmos DB's). */
  expiryFields(expires: Date): Document {
    return { [this.dateField]: expires };
  }

  /**
   * `filter`, restricted to unexpired sessions. The TTL monitor runs about once a minute and some
   * backends have none, so every read filters. In the Cosmos DB mode a document without the
   * store's date (written by version 5, which wrote `_ts`) is left to Cosmos DB's own TTL.
   */
  unexpired(filter: Filter<Document>, now = new Date(this.clock.now())): Filter<Document> {
    const condition = this.cosmos ? { $not: { $lte: now } } : { $gt: now };
    return { ...filter, [this.dateField]: condition };
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
    return { [this.dateField]: { $lte: now } };
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
