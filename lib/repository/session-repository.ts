import type { Collection, Db, MongoClient } from 'mongodb';
import { KeyShapes } from '../codec/key-shapes.js';
import { handleOf } from '../codec/session-ends.js';
import type { DestroyFilter, DeviceSelection } from '../codec/session-filter.js';
import type {
  AnySession,
  SessionDocument,
  SessionLike,
  SessionListing,
  StoredSession,
} from '../codec/session-types.js';
import { StoreClosedError } from '../errors/classes.js';
import { debug } from '../errors/debug.js';
import type { ExpiryTasks, IndexStatus } from '../expiry/expiry-tasks.js';
import { StoredExpiries } from '../expiry/lazy-touch.js';
import type { ServerClock } from '../expiry/server-clock.js';
import type { AutoRemoveOption } from '../options/option-types.js';
import {
  type ResolvedOptions,
  resolveOptions,
  type SessionRepositoryOptions,
} from '../options/options.js';
import { createExpiryTasks, startClock } from './expiry-work.js';
import { ManySessions } from './many-sessions.js';
import { MongoConnection } from './mongo-connection.js';
import { createParts, type RepositoryParts } from './repository-parts.js';
import type { RefusedOperation, RepositoryListeners, SetOutcome } from './repository-types.js';
import { SessionDocuments } from './session-documents.js';

/**
 * Sessions in one MongoDB collection, promise-native and usable without express-session.
 * Every read ignores expired sessions, whether or not the TTL monitor has removed them yet.
 */
export class SessionRepository<T extends SessionLike = AnySession> {
  /** The options, defaults applied and checked, frozen. */
  readonly options: ResolvedOptions;
  readonly #parts: RepositoryParts;
  readonly #connection: MongoConnection;
  readonly #listeners: RepositoryListeners;
  readonly #tasks: ExpiryTasks;
  /** Stored expiries the last reads and writes saw, for lazy touch. */
  readonly #stored: StoredExpiries;
  /** The keys of the sessions the last reads and writes saw, for FerretDB's `$set` (key-shapes.ts). */
  readonly #shapes = new KeyShapes();
  readonly #documents: SessionDocuments<T>;
  readonly #many: ManySessions<T>;
  #closing: Promise<void> | undefined;

  constructor(options: SessionRepositoryOptions | null = {}, listeners: RepositoryListeners = {}) {
    this.options = resolveOptions(options);
    const parts = createParts(
      this.options,
      () => this.#connect(),
      () => {
        this.#tasks.start();
        listeners.connected?.();
      },
    );
    this.#parts = parts;
    this.#listeners = listeners;
    this.#stored = new StoredExpiries(this.options.touchAfterMs);
    const { indexFailed, sweepFailed, unreadable } = listeners;
    this.#tasks = createExpiryTasks(parts, { indexFailed, sweepFailed });
    this.#connection = new MongoConnection(this.options);
    const uniqueIndexTried = () => this.#tasks.uniqueIndexTried();
    this.#documents = new SessionDocuments(parts, {
      shapes: this.#shapes,
      uniqueIndexTried,
      unreadable,
    });
    this.#many = new ManySessions(parts, this.#documents);
  }

  /** The MongoDB client, once known (at once unless it comes from `clientPromise`). */
  get client(): MongoClient | undefined {
    return this.#connection.client;
  }

  /** The database holding the collection, once the client is known. */
  get db(): Db | undefined {
    return this.#connection.db;
  }

  /** The session collection every operation uses: at once when the client is known, else once connected. */
  get collection(): Collection<SessionDocument> | undefined {
    return this.#connection.collection;
  }

  /**
   * The state of the TTL index and of the unique index on a custom `idField`, with the errors of
   * those that failed. Indexes are ensured after connecting, beside the requests, never blocking
   * them; transient failures are retried with backoff. See `whenIndexed()`.
   */
  get indexes(): IndexStatus {
    return this.#tasks.indexes;
  }

  /**
   * Connects, as `ready()` does (and rejects as it does), then resolves with `indexes` once no
   * index is `pending` any more, or the repository closes.
   */
  async whenIndexed(): Promise<IndexStatus> {
    await this.ready();
    return this.#tasks.whenIndexed();
  }

  /**
   * Who deletes expired sessions now: the `autoRemove` asked for (`options.autoRemove`), or
   * `'interval'` where the server has no TTL indexes.
   */
  get autoRemoveInEffect(): AutoRemoveOption {
    return this.#tasks.autoRemoveInEffect;
  }

  /** @deprecated `autoRemoveInEffect`: the mode in effect, which `options.autoRemove` (the mode asked for) is not. */
  get autoRemove(): AutoRemoveOption {
    return this.autoRemoveInEffect;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#parts.gate.closed;
  }

  /**
   * Connects. Rejects with `ConnectionError`, with `OperationTimeoutError` past
   * `operationTimeoutMs`, or with `StoreClosedError` if the repository closes first. Holds no
   * place among pending operations; `close` does not wait for it. Indexes: see `whenIndexed()`.
   */
  ready(): Promise<void> {
    return this.#parts.gate.whenOpen();
  }

  /** The session, or `null` when there is none or it has expired. */
  async get(sid: string): Promise<T | null> {
    const { codec, expiry, lifecycle, operations } = this.#parts;
    const id = codec.storedId(sid);
    const byId = this.#documents.byId(id);
    const { dateField } = expiry;
    // The stored expiry comes along: the read checks it (see `ExpiryPolicy.isLive`), and the touch
    // which follows decides with it without a round trip.
    const projection = { _id: 0, session: 1, [dateField]: 1, ...lifecycle.projection };
    const options = { projection, ...codec.readOptions };
    return operations.retried('get', async (sessions, limit) => {
      const sentAt = Date.now();
      const found = await sessions.findOne(byId, { ...options, ...limit });
      const expires: unknown = found?.[dateField];
      const now = this.#clock.now();
      if (found === null || !expiry.isLive(expires, now)) return null;
      const state = lifecycle.state(found, now);
      if (state === 'outlived') {
        // Past its absolute lifetime: ended now, so that no request still running stores it again.
        this.#stored.forget(sid);
        await this.#documents.end(sessions, byId, now, limit);
      }
      if (state !== 'live') return null;
      if (expires instanceof Date) this.#stored.read(sid, expires, sentAt);
      this.#shapes.remember(sid, found.session);
      return this.#documents.decode(found.session, id);
    });
  }

  /**
   * Inserts or replaces the session; one whose cookie has already expired is ended instead. A
   * session that has ended (by `destroy`, `destroyWhere` or its absolute lifetime) within
   * `terminationWindowMs` is not stored again: nothing is written, and `set` resolves with
   * `'refused'`. Resolves with which of the four it did.
   */
  async set(sid: string, session: T): Promise<SetOutcome> {
    const { codec, operations } = this.#parts;
    const id = codec.storedId(sid);
    const local = codec.encode(id, session);
    // Known to concurrent touches from now on, before the write waits for its turn.
    const remembered = this.#documents.serverTimed(local).expires;
    const stored = (outcome: SetOutcome) => outcome === 'created' || outcome === 'updated';
    const write = () =>
      operations.retried('set', async (sessions, limit): Promise<SetOutcome> => {
        // Once connected: the server's clock has been read.
        const encoded = this.#documents.serverTimed(local);
        const now = this.#clock.now();
        if (encoded.expires.getTime() <= now) {
          this.#stored.forget(sid);
          await this.#documents.end(sessions, this.#documents.byId(id), now, limit);
          return 'deleted';
        }
        const written = await this.#documents.upsert(sessions, limit, { sid, id, encoded, now });
        return written === 'refused' ? this.#refuse('set', sid) : written;
      });
    return this.#stored.writing(sid, remembered, write, stored);
  }

  /**
   * Moves the expiry (and the stored cookie) forward. A session that no longer exists, or has
   * expired, stays gone: touching it is not an error and does not bring it back. Within
   * `touchAfterMs` of the session's last write (as the last `get` or write here saw it), nothing
   * is sent. Resolves with whether a stored session's expiry moved: `false` when nothing was
   * sent, or when there was no unexpired session to touch.
   */
  async touch(sid: string, session: T): Promise<boolean> {
    const { codec, expiry, gate, operations } = this.#parts;
    const id = codec.storedId(sid);
    const local = codec.encodeTouch(id, session);
    const wanted = this.#documents.serverTimed(local).expires;
    if (!expiry.touchNeeded(this.#stored.recall(sid), wanted, this.#clock.now())) {
      if (gate.closed) throw new StoreClosedError();
      return false;
    }
    // Known to concurrent touches from now on, before the write waits for its turn: many
    // requests of one visitor at once write the expiry once. Forgotten if nothing was touched.
    const write = () =>
      operations.retried('touch', async (sessions, limit) => {
        const encoded = this.#documents.serverTimed(local);
        const now = this.#clock.now();
        if (encoded.expires.getTime() <= now) {
          await this.#documents.end(sessions, this.#documents.byId(id), now, limit);
          return false;
        }
        const request = { sid, id, session, encoded, now };
        const outcome = await this.#documents.touch(sessions, limit, request);
        if (outcome === 'refused') this.#refuse('touch', sid);
        return outcome === 'touched';
      });
    return this.#stored.writing(sid, wanted, write, (touched) => touched);
  }

  /**
   * Ends one session or several, for good: each id is kept as ended for `terminationWindowMs`
   * (ids never stored included), so that a request of the session still running cannot store it
   * again (its `set` resolves with `'refused'`). Many ids go in lists of `DESTROY_LIST_SIZE`,
   * each with its own deadline; a list that fails leaves the later ones undone (call again:
   * ending is idempotent).
   */
  async destroy(sid: string | readonly string[]): Promise<void> {
    const sids: readonly string[] = Array.isArray(sid) ? sid : [sid as string];
    const ids = sids.map((each) => this.#parts.codec.storedId(each));
    for (const each of sids) {
      this.#stored.forget(each);
      this.#shapes.forget(each);
    }
    await this.#many.destroy(ids);
  }

  /**
   * Destroys the unexpired sessions that `filter` selects ("log out everywhere") and resolves
   * with how many it destroyed. See docs/logging-out-everywhere.md.
   *
   * - A predicate `(session, id) => boolean | Promise<boolean>` reads every unexpired session
   *   from a cursor (memory stays flat), calls it once for each, one at a time, and destroys
   *   those for which it returns a truthy value, in lists of `DESTROY_LIST_SIZE`, each its own
   *   operation with its own deadline. It works whatever the stored form (string serializers,
   *   `encryption`); `id` is the id as `ids()` yields it. Sessions that cannot be read are
   *   skipped and reported, as the iterator does. A predicate that throws ends the scan:
   *   the sessions it selected before are destroyed, then `destroyWhere` rejects with its error.
   * - A filter over session fields (`{ 'user.id': 42 }`, `{ views: { $gte: 3 } }`, `$and`,
   *   `$or`, `$nor` of such) is sent to the server, rewritten onto the stored `session` field,
   *   and its matches end in lists of `DESTROY_LIST_SIZE`, their ids read first (only the
   *   ids: no session is read here). It is checked first: a
   *   `TypeError`, before anything is sent, for a malformed filter, one naming other fields or
   *   running code (`$where`, `$expr`), an empty one, an `undefined` value, and where the stored
   *   form cannot be queried (a string `serializer`, or `encryption`: use a predicate).
   *
   * `selection` narrows either form to devices by the handles `listWhere` gives: `only` ends
   * just those ("sign out this device"), `except` keeps those ("sign out everywhere else",
   * with `handleOf(req.sessionID)`). The filter still applies, so a handle from a request ends
   * nothing outside it. Handles are matched here, over the ids the filter selects.
   *
   * Each session ends as `destroy` ends it, for good: a request of it still running cannot
   * store it again. Expired sessions are left to the sweep, so the count is of sessions that
   * were live. A step that fails rejects and leaves the later ones undone: call again (ending
   * is idempotent).
   */
  destroyWhere(filter: DestroyFilter<T>, selection?: DeviceSelection): Promise<number> {
    return this.#many.destroyWhere(filter, selection);
  }

  /**
   * The unexpired sessions that `filter` selects, with what an account page shows of each: when
   * it was created and last active, when it expires, and its `handle`, which
   * `destroyWhere(filter, { only: handle })` ends. The same filter forms and refusals as
   * `destroyWhere`; read-only. Reads every match into memory: narrow the filter to one user's
   * sessions, and index the field it names (docs/logging-out-everywhere.md).
   */
  listWhere(filter: DestroyFilter<T>): Promise<Array<SessionListing<T>>> {
    return this.#many.listWhere(filter);
  }

  /**
   * The handle `listWhere` gives for the session `sid`: with `req.sessionID`, the current
   * device's, to keep it out of "sign out everywhere else" or to mark it in a list.
   */
  handleOf(sid: string): string {
    return handleOf(this.#parts.codec.storedId(sid));
  }

  /**
   * Deletes every session in the collection (the collection and its indexes stay), in batches.
   * A reset, for tests and maintenance: the records of ended ids go too, so ids can be stored
   * again at once, and a request still running may store its session again. To end every
   * session for good, use `destroyWhere(() => true)`.
   */
  async clear(): Promise<void> {
    this.#stored.clear();
    this.#shapes.clear();
    await this.#many.clear();
  }

  /** How many unexpired sessions there are. */
  length(): Promise<number> {
    return this.#many.length();
  }

  /**
   * The ids of all unexpired sessions, as stored: with `transformId`, the stored keys
   * (`transformId(sid)`), not the session ids, which the store never keeps.
   */
  ids(): Promise<string[]> {
    return this.#many.ids();
  }

  /**
   * All unexpired sessions, each as `{ id, session, expires }` (the iterator's shape, so a
   * session's own `id` field is never overwritten). `id` is the stored key, as `ids()` gives it.
   * Reads them all into memory: see `sessions()`.
   */
  all(): Promise<Array<StoredSession<T>>> {
    return this.#many.all();
  }

  /**
   * Every unexpired session, read in batches from a cursor so memory stays flat; `id` is the
   * stored key, as `ids()` gives it. Each batch has the operation deadline; `close()` ends a
   * running iteration with `StoreClosedError`.
   */
  sessions(): AsyncGenerator<StoredSession<T>, void, undefined> {
    return this.#many.sessions();
  }

  /** `for await (const { id, session, expires } of repository)`: the same as `sessions()`. */
  [Symbol.asyncIterator](): AsyncGenerator<StoredSession<T>, void, undefined> {
    return this.sessions();
  }

  /**
   * Deletes the sessions expired by now, in batches, and resolves with how many. `autoRemove`
   * calls it on its timer; one sweep runs at a time, and a call during one runs after it.
   */
  deleteExpired(): Promise<number> {
    return this.#tasks.sweep();
  }

  /**
   * Refuses new operations (`StoreClosedError`), and those still waiting for a connection; lets
   * running ones finish (each within its deadline) and ends running iterations; stops the index
   * retries and the sweep timer; then closes the client if the repository created it. Safe to
   * call twice.
   */
  close(): Promise<void> {
    this.#tasks.close();
    if (this.#closing === undefined) debug('closing: waiting for operations under way');
    this.#closing ??= this.#parts.gate.close().then(() => this.#connection.close());
    return this.#closing;
  }

  /** Connects; before any operation, reads the server's clock and learns what the server is. */
  async #connect(): Promise<Collection<SessionDocument>> {
    const sessions = await this.#connection.connect();
    await startClock(sessions, this.#clock);
    await this.#documents.learnQuirks(sessions);
    return sessions;
  }

  /** What the database server's clock reads, as measured. */
  get #clock(): ServerClock {
    return this.#parts.expiry.clock;
  }

  /** A write that an ended session refused: reported, never an error for the request making it. */
  #refuse(operation: RefusedOperation, sid: string): 'refused' {
    this.#stored.forget(sid);
    debug('%s wrote nothing: the session had ended', operation);
    this.#listeners.refused?.(sid, operation);
    return 'refused';
  }
}
