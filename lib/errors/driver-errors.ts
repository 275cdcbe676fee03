import { MongoNetworkError, MongoServerError } from 'mongodb';
import { isTransientCode, type OperationKind, SERVER_CODES } from './server-codes.js';

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
  if (code !== SERVER_CODES.DuplicateKey) return false;
  if (typeof pattern !== 'object' || pattern === null) return true;
  const keys = Object.keys(pattern);
  return keys.length === 1 && keys[0] === field;
}

/**
 * Codes of Node's socket and resolver errors that a new connection can cure. The driver wraps
 * most socket errors in a `MongoNetworkError`, but not all: when a command is larger than the
 * socket buffer, the driver waits for the socket to drain, and an error meanwhile reaches the
 * caller as Node raised it (`EPIPE` from a server that closed the connection during a step-down,
 * say; spec/failover.spec.ts makes one).
 * - `EPIPE`, `ECONNRESET`, `ECONNABORTED`, `ENETRESET`: the connection broke under the operation.
 * - `ECONNREFUSED`: nobody listens, for now (a member restarting); the retry selects a server again.
 * - `ETIMEDOUT`: the connection or a keepalive timed out; the retry runs only within the deadline.
 * - `EHOSTUNREACH`, `EHOSTDOWN`, `ENETUNREACH`, `ENETDOWN`: routes change while a failover moves
 *   an address; a second try a moment later often finds one.
 * - `EAI_AGAIN`: the resolver's own "temporary failure, try again".
 * Not `ENOTFOUND` (a name that does not exist stays so) nor `EACCES`/`EADDRINUSE` (local setup).
 */
const TRANSIENT_SOCKET_CODES: ReadonlySet<string> = new Set([
  'EPIPE',
  'ECONNRESET',
  'ECONNABORTED',
  'ENETRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);

/** How deep `cause` chains are followed: the driver wraps once or twice. */
const MAX_CAUSE_DEPTH = 4;

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
 * Whether one more try of an idempotent operation may succeed: a dropped connection (as a driver
 * network error, or as a raw socket error, alone or as a driver error's `cause`), a server that
 * was busy or changing roles. Not a server-selection timeout: that already waited as long as the
 * client was told to. Which server codes count depends on the kind of operation (see server-codes.ts).
 */
export function isTransient(error: unknown, kind: OperationKind = 'session'): boolean {
  if (!(error instanceof Error) || error.name === 'MongoServerSelectionError') return false;
  if (error instanceof MongoNetworkError || error.name.startsWith('MongoNetwork')) return true;
  if (hasSocketErrorWithin(error)) return true;
  const labelled = error as { hasErrorLabel?: (label: string) => boolean };
  if (TRANSIENT_LABELS.some((label) => labelled.hasErrorLabel?.(label) === true)) return true;
  const code = serverCode(error);
  return code !== undefined && isTransientCode(code, kind);
}

/**
 * Whether `error`, or an error in its `cause` chain, is one of the transient socket errors: an
 * error whose `code` is one of those strings. (Server codes are numbers. The `syscall` that
 * Node's system errors name is not required: the `EPIPE` Node raises itself, for a write after
 * the peer's FIN, names none.)
 */
function hasSocketErrorWithin(error: Error): boolean {
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && current instanceof Error; depth += 1) {
    const { code } = current as { code?: unknown };
    if (typeof code === 'string' && TRANSIENT_SOCKET_CODES.has(code)) return true;
    current = current.cause;
  }
  return false;
}
