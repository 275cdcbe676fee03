/**
 * The server error codes the store acts on, by name (as the driver's `MONGODB_ERROR_CODES`), and
 * which of them a retry can cure, for each kind of operation. Codes are MongoDB's
 * (src/mongo/base/error_codes.yml); FerretDB and Azure Cosmos DB answer with the same numbers,
 * with the differences noted beside them.
 */
export const SERVER_CODES = {
  /**
   * FerretDB's answer to two unrelated things: a busy SQLite database (`SQLITE_BUSY`, about twice
   * in 1 500 writes under load), which the next try cures, and a unique index meeting duplicates,
   * which no try cures.
   */
  InternalError: 1,
  /** Azure Cosmos DB's answer to a TTL index on any field but `_ts`. */
  BadValue: 2,
  HostUnreachable: 6,
  HostNotFound: 7,
  /** The database user may not run the command (creating an index, say). */
  Unauthorized: 13,
  /** An update through a path that does not exist as a document, such as `session.cookie` of a string. */
  PathNotViable: 28,
  /** The server ended the operation at the deadline the store sent with it (`maxTimeMS`). */
  MaxTimeMSExpired: 50,
  /** An index on the same key exists with other options (another `expireAfterSeconds`, say). */
  IndexOptionsConflict: 85,
  /** An index of the same name exists with another key. */
  IndexKeySpecsConflict: 86,
  NetworkTimeout: 89,
  ShutdownInProgress: 91,
  /** A server without TTL indexes. */
  CommandNotSupported: 115,
  PrimarySteppedDown: 189,
  /** FerretDB 1.x's answer to a TTL index. */
  NotImplemented: 238,
  ExceededTimeLimit: 262,
  SocketException: 9001,
  NotWritablePrimary: 10107,
  /** E11000: a write or a unique index met a key another document already has. */
  DuplicateKey: 11000,
  InterruptedAtShutdown: 11600,
  InterruptedDueToReplStateChange: 11602,
  NotPrimaryNoSecondaryOk: 13435,
  NotPrimaryOrSecondary: 13436,
} as const;

/** What kind of command failed: reads and writes of sessions, or the creation of an index. */
export type OperationKind = 'session' | 'index';

/**
 * Codes worth one more try of an idempotent read or write of sessions: the codes the driver's
 * own retryable reads and writes use, and `InternalError` for FerretDB's busy SQLite database.
 */
const TRANSIENT_FOR_SESSIONS: ReadonlySet<number> = new Set([
  SERVER_CODES.InternalError,
  SERVER_CODES.HostUnreachable,
  SERVER_CODES.HostNotFound,
  SERVER_CODES.NetworkTimeout,
  SERVER_CODES.ShutdownInProgress,
  SERVER_CODES.PrimarySteppedDown,
  SERVER_CODES.ExceededTimeLimit,
  SERVER_CODES.SocketException,
  SERVER_CODES.NotWritablePrimary,
  SERVER_CODES.InterruptedAtShutdown,
  SERVER_CODES.InterruptedDueToReplStateChange,
  SERVER_CODES.NotPrimaryNoSecondaryOk,
  SERVER_CODES.NotPrimaryOrSecondary,
]);

/**
 * The same, for creating an index, but for `InternalError`: there it is FerretDB's answer to a
 * unique index meeting duplicate ids, which waiting does not cure.
 */
const TRANSIENT_FOR_INDEXES: ReadonlySet<number> = new Set(
  [...TRANSIENT_FOR_SESSIONS].filter((code) => code !== SERVER_CODES.InternalError),
);

/** Whether a retry can cure server error `code` for an operation of this kind. */
export function isTransientCode(code: number, kind: OperationKind): boolean {
  return (kind === 'index' ? TRANSIENT_FOR_INDEXES : TRANSIENT_FOR_SESSIONS).has(code);
}

/** Servers without TTL indexes: `CommandNotSupported`, or FerretDB 1.x's `NotImplemented`. */
export function meansNoTtlIndexes(code: number): boolean {
  return code === SERVER_CODES.CommandNotSupported || code === SERVER_CODES.NotImplemented;
}
