/** Stable codes for every error the store raises itself. */
export type SessionStoreErrorCode =
  | 'CONNECTION_FAILED'
  | 'QUEUE_FULL'
  | 'STORE_CLOSED'
  | 'OPERATION_FAILED'
  | 'INDEX_FAILED';

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

/** Creating or updating the collection's indexes failed; the store still reads and writes. */
export class IndexError extends SessionStoreError {
  override readonly name = 'IndexError';

  constructor(index: string, cause: unknown) {
    super(`Could not ensure the ${index} index: ${driverMessage(cause)}`, 'INDEX_FAILED', {
      cause,
    });
  }
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
