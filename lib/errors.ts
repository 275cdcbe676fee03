/** Stable codes for every error the store raises itself. */
export type SessionStoreErrorCode =
  | 'CONNECTION_FAILED'
  | 'QUEUE_FULL'
  | 'STORE_CLOSED'
  | 'OPERATION_FAILED'
  | 'OPERATION_TIMEOUT'
  | 'INDEX_FAILED'
  | 'SESSION_UNREADABLE';

/** The base class of every error the store raises; `cause` carries the driver's error, if any. */
export class SessionStoreError extends Error {
  override readonly name: string = 'SessionStoreError';
  readonly code: SessionStoreErrorCode;

  constructor(message: string, code: SessionStoreErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Connecting to MongoDB failed; every operation that waited for that connection rejects with it. */
export class ConnectionError extends SessionStoreError {
  override readonly name = 'ConnectionError';

  constructor(cause: unknown) {
    super(`Could not connect to MongoDB: ${driverMessage(cause)}`, 'CONNECTION_FAILED', { cause });
  }
}

/** Too many operations are already waiting for the connection; raise `maxPendingOperations` if this is expected. */
export class QueueFullError extends SessionStoreError {
  override readonly name = 'QueueFullError';

  constructor(limit: number) {
    super(
      `${limit} operations are already waiting for MongoDB to connect; refusing to queue more`,
      'QUEUE_FULL',
    );
  }
}

/** The repository or store was closed before the operation was issued. */
export class StoreClosedError extends SessionStoreError {
  override readonly name = 'StoreClosedError';

  constructor() {
    super('The session store is closed', 'STORE_CLOSED');
  }
}

/** A database command of one operation failed; `operation` names the repository method. */
export class OperationError extends SessionStoreError {
  override readonly name = 'OperationError';
  readonly operation: string;

  constructor(operation: string, cause: unknown) {
    super(`Session store ${operation} failed: ${driverSummary(cause)}`, 'OPERATION_FAILED', {
      cause,
    });
    this.operation = operation;
  }
}

/**
 * An operation did not settle within `operationTimeoutMs` (waiting for the connection included).
 * The database may still carry out a write that timed out; every operation the store retries is
 * idempotent, so carrying it out late changes nothing that a retry would not.
 */
export class OperationTimeoutError extends SessionStoreError {
  override readonly name = 'OperationTimeoutError';
  readonly operation: string;
  readonly timeoutMs: number;

  constructor(operation: string, timeoutMs: number) {
    super(`Session store ${operation} did not finish within ${timeoutMs} ms`, 'OPERATION_TIMEOUT');
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A stored session could not be turned back into a session (a custom serializer's `parse` threw,
 * or the stored value has a shape no serializer wrote). The read treats it as no session.
 */
export class UnreadableSessionError extends SessionStoreError {
  override readonly name = 'UnreadableSessionError';

  constructor(reason: string, cause?: unknown) {
    super(`A stored session could not be read: ${reason}`, 'SESSION_UNREADABLE', { cause });
  }
}

/**
 * An index could not be created or changed, for a reason retrying does not cure; the store still
 * reads and writes. The message says what to do; it quotes no driver text, which can quote a
 * duplicate session id.
 */
export class IndexError extends SessionStoreError {
  override readonly name = 'IndexError';
  /** Which index: the TTL index on the expiry field or the unique index on `idField`. */
  readonly index: 'ttl' | 'unique';

  constructor(index: 'ttl' | 'unique', problem: string, cause: unknown) {
    super(`${problem} (${driverSummary(cause)})`, 'INDEX_FAILED', { cause });
    this.index = index;
  }
}

/** Passes on the store's own errors (a closed store, a timeout); wraps the driver's in `OperationError`. */
export function storeError(operation: string, error: unknown): Error {
  return error instanceof StoreClosedError || error instanceof OperationTimeoutError
    ? error
    : new OperationError(operation, error);
}

/** A session id that is not a non-empty string; raised before any query runs. */
export class InvalidSessionIdError extends TypeError {
  override readonly name = 'InvalidSessionIdError';
  readonly code = 'INVALID_SESSION_ID';

  constructor(received: unknown) {
    super(`Expected a session id to be a non-empty string, got ${describeValue(received)}`);
  }
}

/**
 * Session data the store cannot keep exactly (a circular reference, a `Map`, a `BigInt` beyond
 * 64 bits, a document over 16 MiB …); raised before anything is sent. The message names the
 * problem and its depth, never a key or a value of the session.
 */
export class InvalidSessionError extends TypeError {
  override readonly name = 'InvalidSessionError';
  readonly code = 'INVALID_SESSION';
}

/**
 * The driver's class and numeric code only: driver messages can quote the offending document
 * or key (a duplicate-key message quotes the whole session id), so they stay in `cause`.
 */
function driverSummary(cause: unknown): string {
  if (!(cause instanceof Error)) return 'unknown error';
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'number' || typeof code === 'string'
    ? `${cause.name} (code ${code})`
    : cause.name;
}

/** Connection and index failures quote no session data, so their driver message helps and is kept. */
function driverMessage(cause: unknown): string {
  return cause instanceof Error
    ? `${driverSummary(cause)}: ${cause.message}`
    : driverSummary(cause);
}

/** Names a received value by type (and length for strings) without echoing its contents. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return `a string of length ${value.length}`;
  return typeof value;
}
