/** The client and the collection the repository works on. */
import {
  type Collection,
  type Db,
  MongoClient,
  type MongoClientOptions,
  ReadPreference,
} from 'mongodb';
import type { SessionDocument } from '../codec/session-types.js';
import { OperationTimeoutError } from '../errors/classes.js';
import { debug } from '../errors/debug.js';
import { withheld, withoutCredentials } from '../errors/redaction.js';
import type { ResolvedOptions } from '../options/options.js';
import { withDeadline } from './deadline.js';

/**
 * The client the options name (created from `uri`, given as `client`, or awaited from
 * `clientPromise` when connecting), its database and the session collection.
 */
export class MongoConnection {
  readonly #options: ResolvedOptions;
  /** Whether the client is the repository's own (from `uri`), which closing the repository closes. */
  readonly #owned: boolean;
  #client: MongoClient | undefined;
  #db: Db | undefined;
  #collection: Collection<SessionDocument> | undefined;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    const { source } = options;
    this.#owned = source.kind === 'uri';
    if (source.kind === 'uri') this.#client = createClient(source.uri, source.connectionOptions);
    if (source.kind === 'client') this.#client = source.client;
    if (this.#client !== undefined) this.#collection = openCollection(this.#client, options);
  }

  /** The client, once known (at once unless it comes from `clientPromise`). */
  get client(): MongoClient | undefined {
    return this.#client;
  }

  /** The database holding the collection, once the client is known. */
  get db(): Db | undefined {
    if (this.#db === undefined && this.#client !== undefined) {
      this.#db = this.#client.db(this.#options.databaseName);
    }
    return this.#db;
  }

  /** The session collection: at once when the client is known, else once connected. */
  get collection(): Collection<SessionDocument> | undefined {
    return this.#collection;
  }

  /** Connects the client (awaiting `clientPromise` first) and gives the session collection. */
  async connect(): Promise<Collection<SessionDocument>> {
    const { source } = this.#options;
    if (source.kind === 'clientPromise') this.#client = await source.clientPromise();
    const client = this.#client as MongoClient;
    await client.connect();
    this.#collection ??= openCollection(client, this.#options);
    return this.#collection;
  }

  /** Closes the client if it is the repository's own, waiting one deadline at most. Never rejects. */
  async close(): Promise<void> {
    if (!this.#owned || this.#client === undefined) {
      debug("closed; the client is not the store's, so it stays open");
      return;
    }
    debug('closing the client the store created');
    // Closing ends the server's sessions over a fresh connection, which a frozen server never
    // accepts (the driver then waits out connectTimeoutMS, 30 s): close waits one deadline.
    const { operationTimeoutMs } = this.#options;
    await withDeadline(
      this.#client.close(),
      operationTimeoutMs,
      () => new OperationTimeoutError('close', operationTimeoutMs),
    ).catch(() => undefined);
  }
}

/**
 * A client from `uri`; what the driver refuses is a `TypeError` at construction. The driver's
 * reason is kept, with the credentials of a connection string it quotes blanked; the `cause`
 * names the driver's error without its message, which can quote the connection string.
 */
function createClient(uri: string, options: MongoClientOptions): MongoClient {
  try {
    return new MongoClient(uri, options);
  } catch (error) {
    const reason = withoutCredentials(error instanceof Error ? error.message : String(error));
    throw new TypeError(
      `Expected \`uri\` and \`connectionOptions\` to be accepted by the MongoDB driver: ${reason}`,
      { cause: withheld(error) },
    );
  }
}

/** The session collection, read from the primary and written with the configured write concern. */
function openCollection(
  client: MongoClient,
  options: ResolvedOptions,
): Collection<SessionDocument> {
  const { databaseName, collectionName, writeConcern } = options;
  // Sessions must read their own writes, so reads go to the primary whatever the client prefers.
  return client.db(databaseName).collection<SessionDocument>(collectionName, {
    readPreference: ReadPreference.primary,
    ...(writeConcern === undefined ? {} : { writeConcern }),
  });
}
