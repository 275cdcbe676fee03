/** The client and the collection the repository works on. */
import { type Collection, MongoClient, type MongoClientOptions, ReadPreference } from 'mongodb';
import type { SessionDocument } from '../codec/session-types.js';
import { withheld, withoutCredentials } from '../errors/redaction.js';
import type { ResolvedOptions } from '../options/options.js';
import type { Deadline } from './connection-gate.js';

/**
 * A client from `uri`; what the driver refuses is a `TypeError` at construction. The driver's
 * reason is kept, with the credentials of a connection string it quotes blanked; the `cause`
 * names the driver's error without its message, which can quote the connection string.
 */
export function createClient(uri: string, options: MongoClientOptions): MongoClient {
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

/** The `maxTimeMS` a driver call takes: what is left of the operation's deadline, if it has one. */
export type TimeLimit = { readonly maxTimeMS?: number };

/**
 * Options of a driver call that send the time left of `deadline` to the server as `maxTimeMS`,
 * so that the server too gives up work nobody waits for any more; none without a deadline. The
 * deadline goes command by command: drivers 6.22 and 7 accept `timeoutMS` on a client, database
 * or collection but ignore it (it is deprecated there and creates no timeout). Not for a cursor
 * read over many batches with pauses between them: the server counts its `maxTimeMS` over the
 * cursor's whole life. FerretDB 1.24 honours it on `find`, `aggregate` (so `countDocuments`) and
 * `findAndModify`, and ignores it on `update`, `delete`, `insert` and `count`.
 */
export function timeLimit(deadline: Deadline): TimeLimit {
  const left = deadline.remainingMs;
  return left === undefined ? {} : { maxTimeMS: left };
}
