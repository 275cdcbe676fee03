import type { Collection, Db, Document, Filter, MongoClient } from 'mongodb';
import { ignoresKeysInSet, KeyShapes, REWRITE_MARK } from '../codec/key-shapes.js';
import {
  createSessionCodec,
  type EncodedSession,
  type SessionCodec,
} from '../codec/session-codec.js';
import { CREATED_AT, handleOf, LAST_MODIFIED, SessionLifecycle } from '../codec/session-ends.js';
import {
  type DestroyFilter,
  type DeviceSelection,
  handleSelection,
  type SessionPredicate,
  storedSessionFilter,
} from '../codec/session-filter.js';
import type {
  AnySession,
  SessionDocument,
  SessionLike,
  SessionListing,
  StoredSession,
} from '../codec/session-types.js';
import { debug, described } from '../errors/debug.js';
import { isDuplicateOf, isTransient, serverCode } from '../errors/driver-errors.js';
import {
  type IndexError,
  OperationTimeoutError,
  type SessionStoreError,
  StoreClosedError,
  storeError,
  UnreadableSessionError,
} from '../errors/errors.js';
import { SERVER_CODES } from '../errors/server-codes.js';
import { ExpiryPolicy, type IndexSpec } from '../expiry/expiry-policy.js';
import { StoredExpiries } from '../expiry/lazy-touch.js';
import { ExpiryTasks, type IndexStatus } from '../expiry/expiry-tasks.js';
import { ServerClock } from '../expiry/server-clock.js';
import {
  type AutoRemoveOption,
  type ResolvedOptions,
  resolveOptions,
  type SessionRepositoryOptions,
} from '../options/options.js';
import {
  DESTROY_LIST_SIZE,
  deleteInBatches,
  destroySelected,
  endListed,
  endMatching,
} from './bulk-operations.js';
import { ConnectionGate, type Deadline, withDeadline } from './connection-gate.js';
import { createClient, openCollection, type TimeLimit, timeLimit } from './mongo-connection.js';
import { readCursor } from './session-cursor.js';

export type {
  AnySession,
  CookieLike,
  SessionDocument,
  SessionLike,
  SessionListing,
  StoredSession,
} from '../codec/session-types.js';
export { DELETE_BATCH_SIZE, DESTROY_LIST_SIZE } from './bulk-operations.js';

/**
 * What `set` did: stored a new session, replaced a stored one, ended one whose cookie had already
 * expired, or wrote nothing because the session had been ended (destroyed, regenerated, revoked
 * or past `absoluteTimeoutMs`) since it was read.
 */
export type SetOutcome = 'created' | 'updated' | 'deleted' | 'refused';

/** The writes that an ended session refuses. */
export type RefusedOperation = 'set' | 'touch';

/** Callbacks of the repository's life that the store turns into events. */
export interface RepositoryListeners {
  /** A connection attempt succeeded: the first, or one after failed ones. Never after `close()`. */
  readonly connected?: (() => void) | undefined;
  /** A stored session could not be read; the read went on as if there were none. */
  readonly unreadable?: ((error: UnreadableSessionError) => void) | undefined;
  /** An index failed for a reason retrying does not cure (once per index); reads and writes go on. */
  readonly indexFailed?: ((error: IndexError) => void) | undefined;
  /** A timed sweep of expired sessions failed (once until one succeeds again). */
  readonly sweepFailed?: ((error: unknown) => void) | undefined;
  /** A `set` or `touch` wrote nothing: the session had ended since it was read. */
  readonly refused?: ((sid: string, operation: RefusedOperation) => void) | undefined;
}

/**
 * Sessions in one MongoDB collection, promise-native and usable without express-session.
 * Every read ignores expired sessions, whether or not the TTL monitor has removed them yet.
 */
export class SessionRepository<T extends SessionLike = AnySession> {
  /** The options, defaults applied and checked, frozen. */
  readonly options: ResolvedOptions;
  readonly #gate: ConnectionGate<Collection<SessionDocument>>;
  readonly #ownsClient: boolean;
  readonly #codec: SessionCodec;
  readonly #listeners: RepositoryListeners;
  readonly #expiry: ExpiryPolicy;
  readonly #lifecycle: SessionLifecycle;
  readonly #tasks: ExpiryTasks;
  /** Stored expiries the last reads and writes saw, for lazy touch. */
  readonly #stored: StoredExpiries;
  /** The keys of the sessions the last reads and writes saw, for FerretDB's `$set` (key-shapes.ts). */
  readonly #shapes = new KeyShapes();
  #client: MongoClient | undefined;
  #db: Db | undefined;
  #collection: Collection<SessionDocument> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: SessionRepositoryOptions | null = {}, listeners: RepositoryListeners = {}) {
    this.options = resolveOptions(options);
    const { source } = this.options;
    this.#ownsClient = source.kind === 'uri';
    this.#codec = createSessionCodec(this.options);
    this.#listeners = listeners;
    this.#expiry = new ExpiryPolicy(this.options, new ServerClock());
    this.#lifecycle = new SessionLifecycle(this.options, this.#expiry);
    this.#stored = new StoredExpiries(this.options.touchAfterMs);
    this.#tasks = this.#expiryTasks();
    if (source.kind === 'uri') this.#client = createClient(source.uri, source.connectionOptions);
    if (source.kind === 'client') this.#client = source.client;
    if (this.#client !== undefined) this.#collection = openCollection(this.#client, this.options);
    this.#gate = new ConnectionGate(() => this.#connect(), {
      maxPending: this.options.maxPendingOperations,
      timeoutMs: this.options.operationTimeoutMs,
      onOpen: () => {
        this.#tasks.start();
        listeners.connected?.();
      },
    });
  }

  /** The MongoDB client, once known (at once unless it comes from `clientPromise`). */
  get client(): MongoClient | undefined {
    return this.#client;
  }

  /** The database holding the collection, once the client is known. */
  get db(): Db | undefined {
    if (this.#db === undefined && this.#client !== undefined) {
      this.#db = this.#client.db(this.options.databaseName);
    }
    return this.#db;
  }

  /** The session collection every operation uses: at once when the client is known, else once connected. */
  get collection(): Collection<SessionDocument> | undefined {
    return this.#collection;
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

  /** Who deletes expired sessions: the `autoRemove` asked for, or `'interval'` where the server has no TTL indexes. */
  get autoRemove(): AutoRemoveOption {
    return this.#tasks.autoRemove;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#gate.closed;
  }

  /**
   * Connects. Rejects with `ConnectionError`, with `OperationTimeoutError` past
   * `operationTimeoutMs`, or with `StoreClosedError` if the repository closes first. Holds no
   * place among pending operations; `close` does not wait for it. Indexes: see `whenIndexed()`.
   */
  ready(): Promise<void> {
    return this.#gate.whenOpen();
  }

  /** The session, or `null` when there is none or it has expired. */
  async get(sid: string): Promise<T | null> {
    const id = this.#codec.storedId(sid);
    const filter = this.#byId(id);
    const { dateField: field } = this.#expiry;
    // The stored expiry comes along: the read checks it (see `ExpiryPolicy.isLive`), and the touch
    // which follows decides with it without a round trip.
    const projection = { _id: 0, session: 1, [field]: 1, ...this.#lifecycle.projection };
    const options = { projection, ...this.#codec.readOptions };
    return this.#operation(
      'get',
      async (sessions, limit) => {
        const sentAt = Date.now();
        const found = await sessions.findOne(filter, { ...options, ...limit });
        const expires: unknown = found?.[field];
        const now = this.#clock.now();
        if (found === null || !this.#expiry.isLive(expires, now)) return null;
        const state = this.#lifecycle.state(found, now);
        if (state === 'outlived') {
          // Past its absolute lifetime: ended now, so that no request still running stores it again.
          this.#stored.forget(sid);
          await sessions.updateOne(
            this.#lifecycle.notEnded(filter),
            this.#lifecycle.ending(now),
            limit,
          );
        }
        if (state !== 'live') return null;
        if (expires instanceof Date) this.#stored.read(sid, expires, sentAt);
        this.#shapes.remember(sid, found.session);
        return this.#decode(found.session, id);
      },
      RETRY,
    );
  }

  /**
   * Inserts or replaces the session; one whose cookie has already expired is ended instead. A
   * session that has ended (by `destroy`, `destroyWhere` or its absolute lifetime) within
   * `terminationWindowMs` is not stored again: nothing is written, and `set` resolves with
   * `'refused'`. Resolves with which of the four it did.
   */
  async set(sid: string, session: T): Promise<SetOutcome> {
    const id = this.#codec.storedId(sid);
    const byId = this.#byId(id);
    const local = this.#codec.encode(id, session);
    // Known to concurrent touches from now on, before the write waits for its turn.
    const remembered = this.#serverTimed(local).expires;
    const stored = (outcome: SetOutcome) => outcome === 'created' || outcome === 'updated';
    return this.#stored.writing(
      sid,
      remembered,
      () =>
        this.#operation(
          'set',
          async (sessions, limit) => {
            // Once connected: the server's clock has been read.
            const encoded = this.#serverTimed(local);
            const { expires } = encoded;
            const now = this.#clock.now();
            if (expires.getTime() <= now) {
              this.#stored.forget(sid);
              await sessions.updateOne(
                this.#lifecycle.notEnded(byId),
                this.#lifecycle.ending(now),
                limit,
              );
              return 'deleted';
            }
            const filter = this.#lifecycle.live(byId, now);
            const update = this.#written(encoded, now);
            const need = this.#shapes.sessionNeed(sid, encoded.session);
            const write = (mark: string | undefined) =>
              updated(sessions, filter, update, { mark, upsert: true, limit });
            await this.#tasks.uniqueIndexTried();
            const written = await upsertLive(this.options.idField, async () => {
              const first = await write(need === 'mark' ? 'session' : undefined);
              // It found a stored session whose keys were not known: FerretDB may have kept it.
              if (need === 'unknown' && first.upsertedCount === 0) return write('session');
              return first;
            });
            if (written === ENDED) return this.#refuse('set', sid);
            this.#shapes.remember(sid, encoded.session);
            return written.upsertedCount > 0 ? 'created' : 'updated';
          },
          RETRY,
        ),
      stored,
    );
  }

  /**
   * Moves the expiry (and the stored cookie) forward. A session that no longer exists, or has
   * expired, stays gone: touching it is not an error and does not bring it back. Within
   * `touchAfterMs` of the session's last write (as the last `get` or write here saw it), nothing
   * is sent. Resolves with whether a stored session's expiry moved: `false` when nothing was
   * sent, or when there was no unexpired session to touch.
   */
  async touch(sid: string, session: T): Promise<boolean> {
    const id = this.#codec.storedId(sid);
    const byId = this.#byId(id);
    const local = this.#codec.encodeTouch(id, session);
    const { set } = local;
    const wanted = this.#serverTimed(local).expires;
    if (!this.#expiry.touchNeeded(this.#stored.recall(sid), wanted, this.#clock.now())) {
      if (this.#gate.closed) throw new StoreClosedError();
      return false;
    }
    // Known to concurrent touches from now on, before the write waits for its turn: many
    // requests of one visitor at once write the expiry once. Forgotten if nothing was touched.
    return this.#stored.writing(
      sid,
      wanted,
      () =>
        this.#operation(
          'touch',
          async (sessions, limit) => {
            const { expires } = this.#serverTimed(local);
            const now = this.#clock.now();
            if (expires.getTime() <= now) {
              await sessions.updateOne(
                this.#lifecycle.notEnded(byId),
                this.#lifecycle.ending(now),
                limit,
              );
              return false;
            }
            const filter = this.#unexpired(byId, now);
            const times = this.#lifecycle.written(now);
            const changes: Document = {
              ...set,
              ...this.#expiry.expiryFields(expires),
              ...times.$set,
            };
            const cookie = set[COOKIE_PATH];
            const mark = this.#shapes.cookieNeed(sid, cookie) === 'none' ? undefined : COOKIE_PATH;
            let touched: boolean;
            try {
              const update = { $set: changes, $min: times.$min };
              touched = (await updated(sessions, filter, update, { mark, limit })).matchedCount > 0;
            } catch (error) {
              if (serverCode(error) !== SERVER_CODES.PathNotViable) throw error;
              // The stored session is a string (another store's form, or another serializer's):
              // its cookie cannot be set alone, so the whole session is written in this store's form.
              const whole = this.#codec.encode(id, session);
              const update = this.#written(whole, now);
              const replaced = await updated(sessions, filter, update, { mark: 'session', limit });
              this.#shapes.remember(sid, whole.session);
              touched = replaced.matchedCount > 0;
            }
            if (touched) {
              if (cookie !== undefined) this.#shapes.rememberCookie(sid, cookie);
              return true;
            }
            // Nothing matched: the session is missing, expired, or ended. Only the last is news.
            const found = await sessions.findOne(byId, {
              projection: this.#lifecycle.projection,
              ...limit,
            });
            if (found !== null && this.#lifecycle.state(found, now) !== 'live') {
              this.#refuse('touch', sid);
            }
            return false;
          },
          RETRY,
        ),
      (touched) => touched,
    );
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
    const ids = sids.map((each) => this.#codec.storedId(each));
    for (const each of sids) {
      this.#stored.forget(each);
      this.#shapes.forget(each);
    }
    for (let start = 0; start < ids.length; start += DESTROY_LIST_SIZE) {
      const batch = ids.slice(start, start + DESTROY_LIST_SIZE);
      await this.#operation(
        'destroy',
        async (sessions, limit) => {
          const [only] = batch;
          if (batch.length > 1 || only === undefined) {
            // Many ids: deleted, and their records inserted, in two commands.
            await endListed(sessions, batch, {}, this.#lifecycle, limit);
            return;
          }
          const update = this.#lifecycle.ending(this.#clock.now());
          // Two ends of one id never stored can both try to insert it: the loser tries again.
          await retriedOnDuplicate(this.options.idField, () =>
            sessions.updateOne(this.#byId(only), update, { upsert: true, ...limit }),
          );
        },
        RETRY,
      );
    }
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
  async destroyWhere(filter: DestroyFilter<T>, selection?: DeviceSelection): Promise<number> {
    const chosen = handleSelection(selection);
    if (typeof filter === 'function' || chosen !== undefined) {
      const predicate = typeof filter === 'function' ? filter : undefined;
      const query =
        predicate === undefined ? storedSessionFilter(filter, this.#codec.query) : undefined;
      return this.#endSelected(predicate, chosen, query ?? {});
    }
    const query = storedSessionFilter(filter, this.#codec.query);
    await this.#gate.whenOpen();
    return endMatching(
      this.#unexpired(query),
      (step) => this.#operation('destroyWhere', step),
      this.#lifecycle,
    );
  }

  /**
   * The unexpired sessions that `filter` selects, with what an account page shows of each: when
   * it was created and last active, when it expires, and its `handle`, which
   * `destroyWhere(filter, { only: handle })` ends. The same filter forms and refusals as
   * `destroyWhere`; read-only. Reads every match into memory: narrow the filter to one user's
   * sessions, and index the field it names (docs/logging-out-everywhere.md).
   */
  async listWhere(filter: DestroyFilter<T>): Promise<Array<SessionListing<T>>> {
    const predicate = typeof filter === 'function' ? filter : undefined;
    const query =
      predicate === undefined ? storedSessionFilter(filter, this.#codec.query, 'listWhere') : {};
    const listed: Array<SessionListing<T>> = [];
    for await (const { id, session, document } of this.#scan('listWhere', query)) {
      if (predicate !== undefined && !(await predicate(session, id))) continue;
      listed.push({
        handle: handleOf(id),
        session,
        createdAt: dateOrNull(document[CREATED_AT]),
        lastActiveAt: dateOrNull(document[LAST_MODIFIED]),
        expires: document[this.#expiry.dateField] as Date,
      });
    }
    return listed;
  }

  /**
   * The handle `listWhere` gives for the session `sid`: with `req.sessionID`, the current
   * device's, to keep it out of "sign out everywhere else" or to mark it in a list.
   */
  handleOf(sid: string): string {
    return handleOf(this.#codec.storedId(sid));
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
    await this.#deleteInBatches('clear', {});
  }

  /** How many unexpired sessions there are. */
  length(): Promise<number> {
    return this.#operation('length', (sessions, limit) =>
      sessions.countDocuments(this.#unexpired({}), limit),
    );
  }

  /**
   * The ids of all unexpired sessions, as stored: with `transformId`, the stored keys
   * (`transformId(sid)`), not the session ids, which the store never keeps.
   */
  ids(): Promise<string[]> {
    const { idField } = this.options;
    const projection = idField === '_id' ? { _id: 1 } : { _id: 0, [idField]: 1 };
    return this.#operation('ids', async (sessions, limit) => {
      const live = this.#unexpired({});
      const documents = await sessions.find(live, { projection, ...limit }).toArray();
      return documents.map((document) => String(document[idField]));
    });
  }

  /**
   * All unexpired sessions, each as `{ id, session, expires }` (the iterator's shape, so a
   * session's own `id` field is never overwritten). `id` is the stored key, as `ids()` gives it.
   * Reads them all into memory: see `sessions()`.
   */
  all(): Promise<Array<StoredSession<T>>> {
    return this.#operation('all', async (sessions, limit) => {
      const live = this.#unexpired({});
      const documents = await sessions
        .find(live, { ...this.#codec.readOptions, ...limit })
        .toArray();
      return documents.flatMap((document) => this.#fromDocument(document));
    });
  }

  /**
   * Every unexpired session, read in batches from a cursor so memory stays flat; `id` is the
   * stored key, as `ids()` gives it. Each batch has the operation deadline; `close()` ends a
   * running iteration with `StoreClosedError`.
   */
  async *sessions(): AsyncGenerator<StoredSession<T>, void, undefined> {
    for await (const { id, session, expires } of this.#scan('sessions', {})) {
      yield { id, session, expires };
    }
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
    this.#closing ??= this.#gate.close().then(async () => {
      if (!this.#ownsClient || this.#client === undefined) {
        debug("closed; the client is not the store's, so it stays open");
        return;
      }
      debug('closing the client the store created');
      // Closing ends the server's sessions over a fresh connection, which a frozen server never
      // accepts (the driver then waits out connectTimeoutMS, 30 s): close waits one deadline.
      const { operationTimeoutMs } = this.options;
      await withDeadline(
        this.#client.close(),
        operationTimeoutMs,
        () => new OperationTimeoutError('close', operationTimeoutMs),
      ).catch(() => undefined);
    });
    return this.#closing;
  }

  async #connect(): Promise<Collection<SessionDocument>> {
    const client = await this.#connectedClient();
    this.#collection ??= openCollection(client, this.options);
    // Before any operation: expiry is decided in the server's time from the first one on.
    await this.#measureClock(this.#collection).catch((error: unknown) => {
      debug('clock: hello failed (%s); the offset stays as it was', described(error));
    });
    await this.#learnQuirks(this.#collection).catch((error: unknown) => {
      debug('buildInfo failed (%s); the server is taken for MongoDB', described(error));
    });
    return this.#collection;
  }

  /** What the server does differently from MongoDB that the writes must allow for (key-shapes.ts). */
  async #learnQuirks(sessions: Collection<SessionDocument>): Promise<void> {
    const reply = await sessions.db.command({ buildInfo: 1 });
    if (ignoresKeysInSet(reply)) {
      debug('FerretDB 1.x: writes whose keys change mark the stored session first');
      this.#shapes.enable();
    }
  }

  /** Reads the server's clock from `hello` (see server-clock.ts). */
  async #measureClock(sessions: Collection<SessionDocument>): Promise<void> {
    const sentAt = Date.now();
    const reply = await sessions.db.command({ hello: 1 });
    this.#clock.observe(reply.localTime, sentAt, Date.now());
  }

  /** What the database server's clock reads, as measured. */
  get #clock(): ServerClock {
    return this.#expiry.clock;
  }

  /** An encoded session or touch whose expiry, reckoned by this process's clock, is in the server's time. */
  #serverTimed<E extends { readonly expires: Date }>(encoded: E): E {
    return { ...encoded, expires: this.#clock.toServer(encoded.expires) };
  }

  async #connectedClient(): Promise<MongoClient> {
    const { source } = this.options;
    if (source.kind === 'clientPromise') this.#client = await source.clientPromise();
    const client = this.#client as MongoClient;
    await client.connect();
    return client;
  }

  /** The index and sweep work; its commands pass the gate like any other operation. */
  #expiryTasks(): ExpiryTasks {
    const { idField, manageIndexes, autoRemoveIntervalMs } = this.options;
    const uniqueIndex: IndexSpec | undefined =
      idField === '_id' ? undefined : { key: { [idField]: 1 }, options: { unique: true } };
    return new ExpiryTasks(
      this.#expiry,
      { manageIndexes, uniqueIndex, sweepIntervalMs: autoRemoveIntervalMs },
      {
        createIndex: ({ key, options }) =>
          this.#gate.run('createIndex', async (sessions) => {
            await sessions.createIndex(key, options);
          }),
        changeExpireAfterSeconds: ({ key, options }) =>
          this.#gate.run('collMod', async (sessions) => {
            await sessions.db.command({
              collMod: sessions.collectionName,
              index: { keyPattern: key, ...options },
            });
          }),
        deleteExpired: async () => {
          // What has expired is reckoned once the server's clock has been read.
          await this.#gate.whenOpen();
          return this.#deleteInBatches('deleteExpired', this.#expiry.expired());
        },
        measureClock: () => this.#gate.run('hello', (sessions) => this.#measureClock(sessions)),
      },
      { indexFailed: this.#listeners.indexFailed, sweepFailed: this.#listeners.sweepFailed },
    );
  }

  /**
   * The unexpired sessions matching `query`, from a cursor under a lease, each with its stored
   * document; `name` names the operation in errors.
   */
  async *#scan(name: string, query: Filter<Document>): AsyncGenerator<ScannedSession<T>> {
    const lease = await this.#gate.lease(name);
    const cursor = lease.value.find(this.#unexpired(query), {
      batchSize: 500,
      ...this.#codec.readOptions,
    });
    const { operationTimeoutMs } = this.options;
    for await (const document of readCursor(cursor, lease, operationTimeoutMs, name)) {
      for (const stored of this.#fromDocument(document)) yield { ...stored, document };
    }
  }

  /**
   * `destroyWhere` by a predicate, by handles, or both, over the sessions `query` selects. The
   * lazy-touch memory is left as it is: it is keyed by session id, which a stored key under
   * `transformId` does not give back, and a remembered expiry of an ended session only spares a
   * touch that would have found nothing to update.
   */
  #endSelected(
    predicate: SessionPredicate<T> | undefined,
    chosen: ((handle: string) => boolean) | undefined,
    query: Filter<Document>,
  ): Promise<number> {
    const selects: SessionPredicate<T> = async (session, id) =>
      (chosen === undefined || chosen(handleOf(id))) &&
      (predicate === undefined || (await predicate(session, id)));
    return destroySelected(this.#scan('destroyWhere', query), selects, (ids) =>
      this.#operation(
        'destroyWhere',
        (sessions, limit) => endListed(sessions, ids, this.#unexpired({}), this.#lifecycle, limit),
        RETRY,
      ),
    );
  }

  /** Deletes what matches `filter` in batches (see `deleteInBatches`), each step through the gate. */
  #deleteInBatches(name: string, filter: Filter<Document>): Promise<number> {
    return deleteInBatches(filter, (step) => this.#operation(name, step));
  }

  /**
   * Runs one database operation through the gate; driver errors become `OperationError`. An
   * idempotent operation is tried once more on a transient error while its deadline allows.
   */
  #operation<R>(
    name: string,
    run: (sessions: Collection<SessionDocument>, limit: TimeLimit) => Promise<R>,
    retry = false,
  ): Promise<R> {
    return this.#gate.run(name, async (sessions, deadline: Deadline) => {
      try {
        return await run(sessions, timeLimit(deadline));
      } catch (error) {
        if (!retry || deadline.expired || this.#gate.closed || !isTransient(error)) {
          throw this.#failed(name, error);
        }
        debug('%s: retrying once after %s', name, described(error));
      }
      try {
        return await run(sessions, timeLimit(deadline));
      } catch (error) {
        throw this.#failed(name, error);
      }
    });
  }

  /** A driver error as the store reports it; the server's own end of the deadline is a timeout. */
  #failed(name: string, error: unknown): SessionStoreError {
    if (serverCode(error) === SERVER_CODES.MaxTimeMSExpired) {
      return new OperationTimeoutError(name, this.options.operationTimeoutMs);
    }
    return storeError(name, error);
  }

  /** A stored document as the iterator and `all()` yield it; none when it cannot be read. */
  #fromDocument(document: SessionDocument): Array<StoredSession<T>> {
    const id = String(document[this.options.idField]);
    const session = this.#decode(document.session, id);
    if (session === null) return [];
    return [{ id, session, expires: document[this.#expiry.dateField] as Date }];
  }

  /** The update that writes a whole session, its expiry and its audit times. */
  #written({ session, expires }: EncodedSession, now: number): Document {
    const times = this.#lifecycle.written(now);
    return {
      $set: { session, ...this.#expiry.expiryFields(expires), ...times.$set },
      $min: times.$min,
    };
  }

  #byId(storedId: string): Filter<Document> {
    return { [this.options.idField]: storedId };
  }

  /** `filter`, restricted to sessions neither expired nor ended at `now`. */
  #unexpired(filter: Filter<Document>, now = this.#clock.now()): Filter<Document> {
    return this.#lifecycle.live(this.#expiry.unexpired(filter, new Date(now)), now);
  }

  /** A write that an ended session refused: reported, never an error for the request making it. */
  #refuse(operation: RefusedOperation, sid: string): 'refused' {
    this.#stored.forget(sid);
    debug('%s wrote nothing: the session had ended', operation);
    this.#listeners.refused?.(sid, operation);
    return 'refused';
  }

  /** An unreadable stored session reads as no session (the visitor starts afresh), and is reported. */
  #decode(stored: unknown, storedId: string): T | null {
    try {
      return this.#codec.decode(stored, storedId) as T;
    } catch (error) {
      this.#listeners.unreadable?.(
        error instanceof UnreadableSessionError
          ? error
          : new UnreadableSessionError('the session codec failed', error),
      );
      return null;
    }
  }
}

/** Marks an idempotent operation, which is tried once more on a transient error. */
const RETRY = true;

/** Where a touch writes the cookie of a session stored as a document. */
const COOKIE_PATH = 'session.cookie';

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

/** A session with the stored document it was read from. */
interface ScannedSession<T extends SessionLike> extends StoredSession<T> {
  readonly document: SessionDocument;
}

/**
 * Concurrent upserts of one id can both try to insert; the loser tries again and finds the
 * winner's document. A duplicate on another unique index (one of the application's) is an error.
 */
async function retriedOnDuplicate<R>(idField: string, write: () => Promise<R>): Promise<R> {
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

function dateOrNull(value: unknown): Date | null {
  return value instanceof Date ? value : null;
}
