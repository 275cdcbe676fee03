import { MongoNetworkError, MongoServerError } from 'mongodb';

/** E11000: a write or a unique index met a key another document already has. */
export const DUPLICATE_KEY = 11000;

/**
 * Whether `error` (thrown, or one of a bulk write's `writeErrors`) is an E11000 on the index of
 * `field`: MongoDB names the index's key pattern (`keyPattern`); FerretDB names none, and the
 * only unique index the store has is the id's.
 */
export function isDuplicateOf(error: unknown, field: string): boolean {
  // A bulk write's error carries the statement's own in `writeErrors`.
  const failed = (error as { writeErrors?: unknown } | null)?.writeErrors;
  const first: unknown = Array.isArray(failed) && failed.length > 0 ? failed[0] : error;
  const { code, keyPattern, err } = (first ?? {}) as {
    code?: unknown;
    keyPattern?: unknown;
    err?: { keyPattern?: unknown };
  };
  const pattern = keyPattern ?? err?.keyPattern;
  if (code !== DUPLICATE_KEY) return false;
  if (typeof pattern !== 'object' || pattern === null) return true;
  const keys = Object.keys(pattern);
  return keys.length === 1 && keys[0] === field;
}

/**
 * Server codes worth one more try of an idempotent operation: the server was stepping down,
 * shutting down or briefly unreachable (the codes the driver's own retryable reads and writes
 * use), and 1, `InternalError`, which is how FerretDB reports a busy SQLite database
 * (`SQLITE_BUSY`, seen on the test server under load about twice in 1 500 writes).
 */
const TRANSIENT_CODES = new Set([
  1, 6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
]);

/** Labels the driver or server put on errors that a retry can cure. */
const TRANSIENT_LABELS = ['RetryableWriteError', 'RetryableError', 'SystemOverloadedError'];

/**
 * The server's numeric error code, for errors of the driver's server error class. A client passed
 * in may come from another copy of the driver than the one this package resolves, so its errors
 * are recognised by class name as well.
 */
export function serverCode(error: unknown): number | undefined {
  const fromServer =
    error instanceof MongoServerError ||
    (error instanceof Error && error.name === 'MongoServerError');
  const code = (error as { code?: unknown } | null)?.code;
  return fromServer && typeof code === 'number' ? code : undefined;
}

/**
 * Whether one more try of an idempotent operation may succeed: a dropped connection, a server
 * that was busy or changing roles. Not a server-selection timeout: that already waited as long
 * as the client was told to.
 */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error) || error.name === 'MongoServerSelectionError') return false;
  if (error instanceof MongoNetworkError || error.name.startsWith('MongoNetwork')) return true;
  const labelled = error as { hasErrorLabel?: (label: string) => boolean };
  if (TRANSIENT_LABELS.some((label) => labelled.hasErrorLabel?.(label) === true)) return true;
  const code = serverCode(error);
  return code !== undefined && TRANSIENT_CODES.has(code);
}
