import {
  type Collection,
  type Db,
  type Document,
  type Filter,
  MongoClient,
  type MongoClientOptions,
  MongoServerError,
  ReadPreference,
} from 'mongodb';
import { ConnectionGate } from './connection-gate.js';
import { IndexError, InvalidSessionIdError, OperationError } from './errors.js';
import { type ResolvedOptions, resolveOptions, type SessionRepositoryOptions } from './options.js';
import { createSessionCodec, type SessionCodec } from './session-codec.js';

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
/** Servers without TTL indexes (FerretDB 1.x answers NotImplemented) still work: reads filter on expiry. */
const NOT_SUPPORTED = new Set([115, 238]);
const MAX_UPSERT_ATTEMPTS = 3;

/**
 * Sessions in one MongoDB collection, promise-native and usable without express-session.
 * Every read ignores expired sessions, whether or not the TTL monitor has removed them yet.
 */
export class SessionRepository<T extends SessionLike = SessionLike> {
  readonly options: ResolvedOptions;
  readonly #gate: ConnectionGate<Collection<SessionDocument>>;
  readonly #ownsClient: boolean;
  readonly #codec: SessionCodec;
  #client: MongoClient | undefined;
  #db: Db | undefined;
  #indexError: IndexError | undefined;
  #ttlIndex: 'pending' | 'ensured' | 'unsupported' | 'failed' = 'pending';
  #closing: Promise<void> | undefined;

  constructor(options: SessionRepositoryOptions = {}) {
    this.options = resolveOptions(options);
    const { source } = this.options;
    this.#ownsClient = source.kind === 'uri';
    this.#codec = createSessionCodec(this.options);
    if (source.kind === 'uri') this.#client = createClient(source.uri, source.connectionOptions);
    if (source.kind === 'client') this.#client = source.client;
    this.#gate = new ConnectionGate(() => this.#connect(), this.options.maxPendingOperations);
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

  /** The session collection, once connected. */
  get collection(): Collection<SessionDocument> | undefined {
    return this.#gate.value;
  }

  /** Whether the TTL index exists: `unsupported` on servers without TTL indexes (see `deleteExpired`). */
  get ttlIndex(): 'pending' | 'ensured' | 'unsupported' | 'failed' {
    return this.#ttlIndex;
  }

  /** Connects and ensures the indexes; rejects with `ConnectionError` or `IndexError`. */
  ready(): Promise<void> {
    return this.#gate.run(async () => {
      if (this.#indexError !== undefined) throw this.#indexError;
    });
  }

  /** The session, or `null` when there is none or it has expired. */
  async get(sid: string): Promise<T | null> {
    const filter = this.#unexpired(this.#byId(sid));
    const options = { projection: { _id: 0, session: 1 }, ...this.#codec.readOptions };
    return this.#operation('get', async (sessions) => {
      const found = await sessions.findOne(filter, options);
      return found === null ? null : this.#decode(found.session);
    });
  }

  /** Inserts or replaces the session; one whose cookie has already expired is deleted instead. */
  async set(sid: string, session: T): Promise<void> {
    const filter = this.#byId(sid);
    const encoded = this.#codec.encode(validId(sid), session);
    const { expires } = encoded;
    return this.#operation('set', async (sessions) => {
      if (expires.getTime() <= Date.now()) {
        await sessions.deleteOne(filter);
        return;
      }
      const update = { $set: { session: encoded.session, [this.options.expiresKey]: expires } };
      await upsert(() =>
        sessions.updateOne(filter, update, { upsert: true, ignoreUndefined: true }),
      );
    });
  }

  /**
   * Moves the expiry (and the stored cookie) forward. A session that no longer exists, or has
   * expired, stays gone: touching it is not an error and does not bring it back.
   */
  async touch(sid: string, session: T): Promise<void> {
    const filter = this.#unexpired(this.#byId(sid));
    const { set, expires } = this.#codec.encodeTouch(validId(sid), session);
    return this.#operation('touch', async (sessions) => {
      if (expires.getTime() <= Date.now()) {
        await sessions.deleteOne(this.#byId(sid));
        return;
      }
      const changes: Document = { ...set, [this.options.expiresKey]: expires };
      await sessions.updateOne(filter, { $set: changes }, { ignoreUndefined: true });
    });
  }

  /** Deletes one session or several; ids that do not exist are ignored. */
  async destroy(sid: string | readonly string[]): Promise<void> {
    const ids = Array.isArray(sid) ? sid.map(validId) : [validId(sid)];
    const filter: Filter<Document> = {
      [this.options.idField]: ids.length === 1 ? ids[0] : { $in: ids },
    };
    return this.#operation('destroy', async (sessions) => {
      await sessions.deleteMany(filter);
    });
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

  /** All unexpired sessions, each with its id as `id`. Reads them all into memory: see `sessions()`. */
  all(): Promise<Array<T & { id: string }>> {
    const { idField } = this.options;
    return this.#operation('all', async (sessions) => {
      const documents = await sessions.find(this.#unexpired({}), this.#codec.readOptions).toArray();
      return documents.flatMap((document) => {
        const session = this.#decode(document.session);
        return session === null ? [] : [{ ...session, id: String(document[idField]) }];
      });
    });
  }

  /** Every unexpired session, read in batches from a cursor so memory stays flat. */
  async *sessions(): AsyncGenerator<StoredSession<T>, void, undefined> {
    const collection = await this.#gate.run(async (sessions) => sessions);
    const { idField, expiresKey } = this.options;
    const cursor = collection.find(this.#unexpired({}), {
      batchSize: 500,
      ...this.#codec.readOptions,
    });
    try {
      for await (const document of cursor) {
        const session = this.#decode(document.session);
        if (session === null) continue;
        yield { id: String(document[idField]), session, expires: document[expiresKey] as Date };
      }
    } catch (error) {
      throw new OperationError('sessions', error);
    } finally {
      await cursor.close();
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

  /** Lets queued and running operations finish, then closes the client if the repository created it. */
  close(): Promise<void> {
    this.#closing ??= this.#gate.close().then(async () => {
      if (this.#ownsClient) await this.#client?.close();
    });
    return this.#closing;
  }

  async #connect(): Promise<Collection<SessionDocument>> {
    const client = await this.#connectedClient();
    const { databaseName, collection: name, writeConcern } = this.options;
    // Sessions must read their own writes, so reads go to the primary whatever the client prefers.
    const collection = client.db(databaseName).collection<SessionDocument>(name, {
      readPreference: ReadPreference.primary,
      ...(writeConcern === undefined ? {} : { writeConcern }),
    });
    this.#indexError = await this.#ensureIndexes(collection);
    return collection;
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

  /** Runs one database operation through the gate; driver errors become `OperationError`. */
  #operation<R>(
    name: string,
    run: (sessions: Collection<SessionDocument>) => Promise<R>,
  ): Promise<R> {
    return this.#gate.run(async (sessions) => {
      try {
        return await run(sessions);
      } catch (error) {
        throw new OperationError(name, error);
      }
    });
  }

  #byId(sid: unknown): Filter<Document> {
    return { [this.options.idField]: validId(sid) };
  }

  // The TTL monitor runs about once a minute and some servers have none, so reads filter as well.
  #unexpired(filter: Filter<Document>): Filter<Document> {
    return { ...filter, [this.options.expiresKey]: { $gt: new Date() } };
  }

  /** An unreadable stored session reads as no session: the visitor starts afresh. */
  #decode(stored: unknown): T | null {
    try {
      return this.#codec.decode(stored) as T;
    } catch {
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
  if (typeof sid !== 'string' || sid === '') throw new InvalidSessionIdError(sid);
  return sid;
}

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

/**
 * The server's numeric error code, for errors of the driver's server error class. A client passed
 * in may come from another copy of the driver than the one this package resolves, so its errors
 * are recognised by class name as well.
 */
function serverCode(error: unknown): number | undefined {
  const fromServer =
    error instanceof MongoServerError ||
    (error instanceof Error && error.name === 'MongoServerError');
  const code = (error as { code?: unknown } | null)?.code;
  return fromServer && typeof code === 'number' ? code : undefined;
}
