import {
  type Collection,
  type Db,
  type Document,
  type Filter,
  MongoClient,
  type MongoClientOptions,
  ReadPreference,
} from 'mongodb';
import { ConnectionGate, type Deadline, withDeadline } from './connection-gate.js';
import { isTransient, serverCode } from './driver-errors.js';
import {
  IndexError,
  InvalidSessionIdError,
  OperationError,
  OperationTimeoutError,
  StoreClosedError,
  UnreadableSessionError,
} from './errors.js';
import { type ResolvedOptions, resolveOptions, type SessionRepositoryOptions } from './options.js';
import { createSessionCodec, type EncodedSession, type SessionCodec } from './session-codec.js';

/** The part of a session cookie the repository reads: its expiry. */
export interface CookieLike {
  expires?: Date | string | number | null | false | undefined;
  toJSON?(): unknown;
}

/** What a session must look like: any object, with an optional express-session style cookie. */
export interface SessionLike {
  cookie?: CookieLike | undefined;
}

/**
 * The stored document: `{ <idField>: sid, session, <expiresKey>: Date }`. The two field names are
 * options, hence the index signature; `session` is the session in its stored form (a document or
 * a string, depending on `serializer`; see the session codec).
 */
export type SessionDocument = Document & { session: unknown };

/** One session as the iterator yields it. */
export interface StoredSession<T extends SessionLike> {
  readonly id: string;
  readonly session: T;
  readonly expires: Date;
}

const DUPLICATE_KEY = 11000;
const INDEX_OPTIONS_CONFLICT = 85;
/** An update through a path that does not exist as a document, such as `session.cookie` of a string. */
const PATH_NOT_VIABLE = 28;
/** Servers without TTL indexes (FerretDB 1.x answers NotImplemented) still work: reads filter on expiry. */
const NOT_SUPPORTED = new Set([115, 238]);
const MAX_UPSERT_ATTEMPTS = 3;
/** Browsers keep cookies of at most 4 096 bytes, so no real session id is longer. */
const MAX_SESSION_ID_LENGTH = 4096;

/** Callbacks of the repository's life that the store turns into events. */
export interface RepositoryListeners {
  /** A connection attempt succeeded: the first, or one after failed ones. Never after `close()`. */
  readonly connected?: (() => void) | undefined;
  /** A stored session could not be read; the read went on as if there were none. */
  readonly unreadable?: ((error: UnreadableSessionError) => void) | undefined;
}

/**
 * Sessions in one MongoDB collection, promise-native and usable without express-session.
 * Every read ignores expired sessions, whether or not the TTL monitor has removed them yet.
 */
export class SessionRepository<T extends SessionLike = SessionLike> {
  readonly options: ResolvedOptions;
  readonly #gate: ConnectionGate<Collection<SessionDocument>>;
  readonly #ownsClient: boolean;
  readonly #codec: SessionCodec;
  readonly #listeners: RepositoryListeners;
  #client: MongoClient | undefined;
  #db: Db | undefined;
  #collection: Collection<SessionDocument> | undefined;
  #indexError: IndexError | undefined;
  #ttlIndex: 'pending' | 'ensured' | 'unsupported' | 'failed' = 'pending';
  #closing: Promise<void> | undefined;

  constructor(options: SessionRepositoryOptions | null = {}, listeners: RepositoryListeners = {}) {
    this.options = resolveOptions(options);
    const { source } = this.options;
    this.#ownsClient = source.kind === 'uri';
    this.#codec = createSessionCodec(this.options);
    this.#listeners = listeners;
    if (source.kind === 'uri') this.#client = createClient(source.uri, source.connectionOptions);
    if (source.kind === 'client') this.#client = source.client;
    if (this.#client !== undefined) this.#collection = this.#openCollection(this.#client);
    this.#gate = new ConnectionGate(() => this.#connect(), {
      maxPending: this.options.maxPendingOperations,
      timeoutMs: this.options.operationTimeoutMs,
      onOpen: listeners.connected,
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

  /** Whether the TTL index exists: `unsupported` on servers without TTL indexes (see `deleteExpired`). */
  get ttlIndex(): 'pending' | 'ensured' | 'unsupported' | 'failed' {
    return this.#ttlIndex;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#gate.closed;
  }

  /**
   * Connects and ensures the indexes. Rejects with `ConnectionError` or `IndexError`, with
   * `OperationTimeoutError` past `operationTimeoutMs`, or with `StoreClosedError` if the
   * repository closes first. Holds no place among pending operations; `close` does not wait for it.
   */
  ready(): Promise<void> {
    return this.#gate.whenOpen().then(() => {
      if (this.#indexError !== undefined) throw this.#indexError;
    });
  }

  /** The session, or `null` when there is none or it has expired. */
  async get(sid: string): Promise<T | null> {
    const filter = this.#unexpired(this.#byId(sid));
    const options = { projection: { _id: 0, session: 1 }, ...this.#codec.readOptions };
    return this.#operation(
      'get',
      async (sessions) => {
        const found = await sessions.findOne(filter, options);
        return found === null ? null : this.#decode(found.session);
      },
      RETRY,
    );
  }

  /** Inserts or replaces the session; one whose cookie has already expired is deleted instead. */
  async set(sid: string, session: T): Promise<void> {
    const filter = this.#byId(sid);
    const encoded = this.#codec.encode(sid, session);
    const { expires } = encoded;
    return this.#operation(
      'set',
      async (sessions) => {
        if (expires.getTime() <= Date.now()) {
          await sessions.deleteOne(filter);
          return;
        }
        const update = this.#replacement(encoded);
        await upsert(() =>
          sessions.updateOne(filter, update, { upsert: true, ignoreUndefined: true }),
        );
      },
      RETRY,
    );
  }

  /**
   * Moves the expiry (and the stored cookie) forward. A session that no longer exists, or has
   * expired, stays gone: touching it is not an error and does not bring it back.
   */
  async touch(sid: string, session: T): Promise<void> {
    const byId = this.#byId(sid);
    const filter = this.#unexpired(byId);
    const { set, expires } = this.#codec.encodeTouch(sid, session);
    return this.#operation(
      'touch',
      async (sessions) => {
        if (expires.getTime() <= Date.now()) {
          await sessions.deleteOne(byId);
          return;
        }
        const changes: Document = { ...set, [this.options.expiresKey]: expires };
        try {
          await sessions.updateOne(filter, { $set: changes }, { ignoreUndefined: true });
        } catch (error) {
          if (serverCode(error) !== PATH_NOT_VIABLE) throw error;
          // The stored session is a string (another store's form, or another serializer's):
          // its cookie cannot be set alone, so the whole session is written in this store's form.
          const update = this.#replacement(this.#codec.encode(sid, session));
          await sessions.updateOne(filter, update, { ignoreUndefined: true });
        }
      },
      RETRY,
    );
  }

  /** Deletes one session or several; ids that do not exist are ignored. */
  async destroy(sid: string | readonly string[]): Promise<void> {
    const ids = Array.isArray(sid) ? sid.map(validId) : [validId(sid)];
    const filter: Filter<Document> = {
      [this.options.idField]: ids.length === 1 ? ids[0] : { $in: ids },
    };
    return this.#operation(
      'destroy',
      async (sessions) => {
        await sessions.deleteMany(filter);
      },
      RETRY,
    );
  }

  /** Deletes every session in the collection (the collection and its indexes stay). */
  clear(): Promise<void> {
    return this.#operation('clear', async (sessions) => {
      await sessions.deleteMany({});
    });
  }

  /** How many unexpired sessions there are. */
  length(): Promise<number> {
    return this.#operation('length', (sessions) => sessions.countDocuments(this.#unexpired({})));
  }

  /** The ids of all unexpired sessions. */
  ids(): Promise<string[]> {
    const { idField } = this.options;
    const projection = idField === '_id' ? { _id: 1 } : { _id: 0, [idField]: 1 };
    return this.#operation('ids', async (sessions) => {
      const documents = await sessions.find(this.#unexpired({}), { projection }).toArray();
      return documents.map((document) => String(document[idField]));
    });
  }

  /**
   * All unexpired sessions, each as `{ id, session, expires }` (the iterator's shape, so a
   * session's own `id` field is never overwritten). Reads them all into memory: see `sessions()`.
   */
  all(): Promise<Array<StoredSession<T>>> {
    return this.#operation('all', async (sessions) => {
      const documents = await sessions.find(this.#unexpired({}), this.#codec.readOptions).toArray();
      return documents.flatMap((document) => this.#stored(document));
    });
  }

  /**
   * Every unexpired session, read in batches from a cursor so memory stays flat. Each batch has
   * the operation deadline; `close()` ends a running iteration with `StoreClosedError`.
   */
  async *sessions(): AsyncGenerator<StoredSession<T>, void, undefined> {
    const lease = await this.#gate.lease('sessions');
    const { operationTimeoutMs } = this.options;
    const cursor = lease.value.find(this.#unexpired({}), {
      batchSize: 500,
      ...this.#codec.readOptions,
    });
    // The reader may be paused at a `yield` when the store closes: close the cursor for it.
    const abandon = () => {
      cursor.close().catch(() => undefined);
      lease.release();
    };
    lease.signal.addEventListener('abort', abandon, { once: true });
    try {
      for (;;) {
        const next = cursor.next();
        const document = await withDeadline(
          next,
          operationTimeoutMs,
          () => new OperationTimeoutError('sessions', operationTimeoutMs),
        ).catch((error: unknown) => {
          next.catch(() => undefined);
          throw lease.signal.aborted ? lease.signal.reason : wrap('sessions', error);
        });
        // A cursor closed under it reads as exhausted: the reason must not be lost.
        if (lease.signal.aborted) throw lease.signal.reason;
        if (document === null) return;
        yield* this.#stored(document);
        if (lease.signal.aborted) throw lease.signal.reason;
      }
    } finally {
      lease.signal.removeEventListener('abort', abandon);
      lease.release();
      await cursor.close().catch(() => undefined);
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<StoredSession<T>, void, undefined> {
    return this.sessions();
  }

  /** Deletes expired sessions now; for servers without a TTL monitor. Returns how many it deleted. */
  deleteExpired(): Promise<number> {
    return this.#operation('deleteExpired', async (sessions) => {
      const result = await sessions.deleteMany({ [this.options.expiresKey]: { $lte: new Date() } });
      return result.deletedCount;
    });
  }

  /**
   * Refuses new operations (`StoreClosedError`), and those still waiting for a connection; lets
   * running ones finish (each within its deadline) and ends running iterations; then closes the
   * client if the repository created it. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= this.#gate.close().then(async () => {
      if (!this.#ownsClient || this.#client === undefined) return;
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
    this.#collection ??= this.#openCollection(client);
    this.#indexError = await this.#ensureIndexes(this.#collection);
    return this.#collection;
  }

  #openCollection(client: MongoClient): Collection<SessionDocument> {
    const { databaseName, collection, writeConcern } = this.options;
    // Sessions must read their own writes, so reads go to the primary whatever the client prefers.
    return client.db(databaseName).collection<SessionDocument>(collection, {
      readPreference: ReadPreference.primary,
      ...(writeConcern === undefined ? {} : { writeConcern }),
    });
  }

  async #connectedClient(): Promise<MongoClient> {
    const { source } = this.options;
    if (source.kind === 'clientPromise') this.#client = await source.clientPromise();
    const client = this.#client as MongoClient;
    await client.connect();
    return client;
  }

  /** Index failures do not stop the store: they surface through `ready()` and the store's `error` event. */
  async #ensureIndexes(collection: Collection<SessionDocument>): Promise<IndexError | undefined> {
    const { idField, expiresKey, expiresAfterSeconds } = this.options;
    try {
      await ensureTtlIndex(collection, expiresKey, expiresAfterSeconds);
      this.#ttlIndex = 'ensured';
    } catch (error) {
      if (NOT_SUPPORTED.has(serverCode(error) ?? 0)) {
        this.#ttlIndex = 'unsupported';
      } else {
        this.#ttlIndex = 'failed';
        return new IndexError(`TTL (${expiresKey})`, error);
      }
    }
    if (idField === '_id') return undefined;
    try {
      await collection.createIndex({ [idField]: 1 }, { unique: true });
    } catch (error) {
      return new IndexError(`unique (${idField})`, error);
    }
    return undefined;
  }

  /**
   * Runs one database operation through the gate; driver errors become `OperationError`. An
   * idempotent operation is tried once more on a transient error while its deadline allows.
   */
  #operation<R>(
    name: string,
    run: (sessions: Collection<SessionDocument>) => Promise<R>,
    retry = false,
  ): Promise<R> {
    return this.#gate.run(name, async (sessions, deadline: Deadline) => {
      try {
        return await run(sessions);
      } catch (error) {
        if (!retry || deadline.expired || this.#gate.closed || !isTransient(error)) {
          throw wrap(name, error);
        }
      }
      try {
        return await run(sessions);
      } catch (error) {
        throw wrap(name, error);
      }
    });
  }

  /** A stored document as the iterator and `all()` yield it; none when it cannot be read. */
  #stored(document: SessionDocument): Array<StoredSession<T>> {
    const session = this.#decode(document.session);
    if (session === null) return [];
    const { idField, expiresKey } = this.options;
    return [{ id: String(document[idField]), session, expires: document[expiresKey] as Date }];
  }

  /** The update that writes a whole session and its expiry. */
  #replacement({ session, expires }: EncodedSession): Document {
    return { $set: { session, [this.options.expiresKey]: expires } };
  }

  #byId(sid: unknown): Filter<Document> {
    return { [this.options.idField]: validId(sid) };
  }

  // The TTL monitor runs about once a minute and some servers have none, so reads filter as well.
  #unexpired(filter: Filter<Document>): Filter<Document> {
    return { ...filter, [this.options.expiresKey]: { $gt: new Date() } };
  }

  /** An unreadable stored session reads as no session (the visitor starts afresh), and is reported. */
  #decode(stored: unknown): T | null {
    try {
      return this.#codec.decode(stored) as T;
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

function createClient(uri: string, options: MongoClientOptions): MongoClient {
  try {
    return new MongoClient(uri, options);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TypeError(
      `Expected \`uri\` and \`connectionOptions\` to be accepted by the MongoDB driver: ${reason}`,
      {
        cause: error,
      },
    );
  }
}

function validId(sid: unknown): string {
  if (typeof sid !== 'string' || sid === '' || sid.length > MAX_SESSION_ID_LENGTH) {
    throw new InvalidSessionIdError(sid);
  }
  return sid;
}

/** Passes on the store's own errors (a closed store, a timeout); wraps the driver's. */
function wrap(operation: string, error: unknown): Error {
  return error instanceof StoreClosedError || error instanceof OperationTimeoutError
    ? error
    : new OperationError(operation, error);
}

/** Marks an idempotent operation, which is tried once more on a transient error. */
const RETRY = true;

/** Concurrent upserts of one id can both try to insert; the loser retries and finds the winner's document. */
async function upsert(write: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await write();
      return;
    } catch (error) {
      if (serverCode(error) !== DUPLICATE_KEY || attempt >= MAX_UPSERT_ATTEMPTS) {
        throw error;
      }
    }
  }
}

/** Creates the TTL index; where one exists with other options, changes it in place with `collMod`. */
async function ensureTtlIndex(
  collection: Collection<SessionDocument>,
  key: string,
  expireAfterSeconds: number,
): Promise<void> {
  try {
    await collection.createIndex({ [key]: 1 }, { expireAfterSeconds });
  } catch (error) {
    if (serverCode(error) !== INDEX_OPTIONS_CONFLICT) throw error;
    await collection.db.command({
      collMod: collection.collectionName,
      index: { keyPattern: { [key]: 1 }, expireAfterSeconds },
    });
  }
}
