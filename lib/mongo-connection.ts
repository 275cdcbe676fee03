/** The client and the collection the repository works on. */
import { type Collection, MongoClient, type MongoClientOptions, ReadPreference } from 'mongodb';
import type { ResolvedOptions } from './options.js';
import type { SessionDocument } from './session-types.js';

/** A client from `uri`; what the driver refuses is a `TypeError` at construction. */
export function createClient(uri: string, options: MongoClientOptions): MongoClient {
  try {
    return new MongoClient(uri, options);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TypeError(
      `Expected \`uri\` and \`connectionOptions\` to be accepted by the MongoDB driver: ${reason}`,
      { cause: error },
    );
  }
}

/** The session collection, read from the primary and written with the configured write concern. */
export function openCollection(
  client: MongoClient,
  options: ResolvedOptions,
): Collection<SessionDocument> {
  const { databaseName, collection, writeConcern } = options;
  // Sessions must read their own writes, so reads go to the primary whatever the client prefers.
  return client.db(databaseName).collection<SessionDocument>(collection, {
    readPreference: ReadPreference.primary,
    ...(writeConcern === undefined ? {} : { writeConcern }),
  });
}
