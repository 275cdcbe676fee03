import { describeValue } from '../support/values.js';
import { brand } from './branding.js';
import { driverSummary, withheld, withoutCredentials } from './redaction.js';

/** Stable codes for every error the store raises itself. */
export type SessionStoreErrorCode =
  | 'CONNECTION_FAILED'
  | 'QUEUE_FULL'
  | 'STORE_CLOSED'
  | 'OPERATION_FAILED'
  | 'OPERATION_TIMEOUT'
  | 'OVERLOADED'
  | 'INDEX_FAILED'
  | 'SESSION_UNREADABLE'
  | 'SESSION_UNDECRYPTABLE';

/**
 * The base class of every error the store raises. `cause` describes the error that caused it
 * (the driver's, or a serializer's) by class, `code`, `codeName` and error labels only, never by
 * its message: driver messages quote session ids (`E11000 … dup key: { _id: "…" }`) and keys
 * (`invalid key: "…"`), and `util.inspect`, which Express's default error handler uses through
 * `console.error`, prints the whole `cause` chain. The original error stays reachable, unprinted,
 * as `driverError`.
 *
 * `instanceof` on this class and its subclasses holds for errors made by either build of the
 * package (`import` and `require` each load their own), so an application that uses both can test
 * `error instanceof ConnectionError` whichever one raised it.
 */
export class SessionStoreError extends Error {
  static {
    brand(SessionStoreError, 'SessionStoreError', true);
  }

  /** The class's name, as `error.name` of built-in errors gives it (`'ConnectionError'` …). */
  override readonly name: string = 'SessionStoreError';
  /** What failed, stable across versions (`'CONNECTION_FAILED'` …): test this rather than the message. */
  readonly code: SessionStoreErrorCode;
  // A private field, which `util.inspect` and `JSON.stringify` never show.
  readonly #driverError: unknown;

  constructor(message: string, code: SessionStoreErrorCode, options?: { cause?: unknown }) {
    const given = options !== undefined && 'cause' in options;
    super(message, given ? { cause: withheld(options.cause) } : undefined);
    this.code = code;
    this.#driverError = options?.cause;
  }

  /**
   * The error that caused this one, exactly as it was thrown (driver message included), for
   * debugging: it may quote session ids, keys or values, so log it only where that is acceptable.
   * Not printed by `util.inspect`, `console.error` or `JSON.stringify`.
   */
  get driverError(): unknown {
    const cause = this.#driverError;
    return cause instanceof SessionStoreError ? cause.driverError : cause;
  }
}

/** Connecting to MongoDB failed; every operation that waited for that connection rejects with it. */
export class ConnectionError extends SessionStoreError {
  static {
    brand(ConnectionError, 'ConnectionError');
  }

  /** `'ConnectionError'`. */
  override readonly name = 'ConnectionError';

  constructor(cause: unknown) {
    super(`Could not connect to MongoDB: ${connectionMessage(cause)}`, 'CONNECTION_FAILED', {
      cause,
    });
  }
}

/** Too many operations are already waiting for the connection; raise `maxPendingOperations` if this is expected. */
export class QueueFullError extends SessionStoreError {
  static {
    brand(QueueFullError, 'QueueFullError');
  }

  /** `'QueueFullError'`. */
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
  static {
    brand(StoreClosedError, 'StoreClosedError');
  }

  /** `'StoreClosedError'`. */
  override readonly name = 'StoreClosedError';

  constructor() {
    super('The session store is closed', 'STORE_CLOSED');
  }
}

/** A database command of one operation failed; `operation` names the repository method. */
export class OperationError extends SessionStoreError {
  static {
    brand(OperationError, 'OperationError');
  }

  /** `'OperationError'`. */
  override readonly name = 'OperationError';
  /** The repository method that failed (`'get'`, `'set'`, `'deleteExpired'` …). */
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
  static {
    brand(OperationTimeoutError, 'OperationTimeoutError');
  }

  /** `'OperationTimeoutError'`. */
  override readonly name = 'OperationTimeoutError';
  /** The repository method that ran out of time. */
  readonly operation: string;
  /** The deadline it had: `operationTimeoutMs`, in milliseconds. */
  readonly timeoutMs: number;

  constructor(operation: string, timeoutMs: number) {
    super(`Session store ${operation} did not finish within ${timeoutMs} ms`, 'OPERATION_TIMEOUT');
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The store refused an operation without sending it, to shed load it could not finish in time:
 * an operation sent to the database got no answer within `operationTimeoutMs` and none has been
 * answered since (`reason: 'unanswered'`; a few probes still go through, and the first answer
 * lets everything through again), or the operation waited for its turn among those in flight
 * for half its deadline (`reason: 'queued'`). Nothing was sent for it; answer 503 and retry later.
 */
export class OverloadedError extends SessionStoreError {
  static {
    brand(OverloadedError, 'OverloadedError');
  }

  /** `'OverloadedError'`. */
  override readonly name = 'OverloadedError';
  /** The repository method refused. */
  readonly operation: string;
  /** Why: the database stopped answering in time, or the operation waited too long for its turn. */
  readonly reason: 'unanswered' | 'queued';

  constructor(operation: string, reason: 'unanswered' | 'queued', timeoutMs: number) {
    super(
      reason === 'unanswered'
        ? `Session store ${operation} refused: MongoDB has not answered within ${timeoutMs} ms; operations are refused until it answers a probe`
        : `Session store ${operation} refused: it waited half its ${timeoutMs} ms deadline for its turn among the operations in flight`,
      'OVERLOADED',
    );
    this.operation = operation;
    this.reason = reason;
  }
}

/**
 * A stored session could not be turned back into a session (a custom serializer's `parse` threw,
 * or the stored value has a shape no serializer wrote). The read treats it as no session.
 */
export class UnreadableSessionError extends SessionStoreError {
  static {
    brand(UnreadableSessionError, 'UnreadableSessionError');
  }

  /** `'UnreadableSessionError'`. */
  override readonly name: string = 'UnreadableSessionError';

  constructor(reason: string, cause?: unknown) {
    super(
      `A stored session could not be read: ${reason}`,
      'SESSION_UNREADABLE',
      cause === undefined ? undefined : { cause },
    );
  }
}

/**
 * An encrypted stored session could not be decrypted: it was altered, moved to another session's
 * document, or written with a key that is no longer among `encryption.keys` (or with encryption
 * on, and it is now off). The read treats it as no session; code `SESSION_UNDECRYPTABLE`.
 */
export class SessionDecryptionError extends UnreadableSessionError {
  static {
    brand(SessionDecryptionError, 'SessionDecryptionError');
  }

  /** `'SessionDecryptionError'`. */
  override readonly name = 'SessionDecryptionError';
  /** `'SESSION_UNDECRYPTABLE'`: a stored session that does not decrypt. */
  override readonly code = 'SESSION_UNDECRYPTABLE';
}

/**
 * An index could not be created or changed, for a reason retrying does not cure; the store still
 * reads and writes. The message says what to do; it quotes no driver text, which can quote a
 * duplicate session id.
 */
export class IndexError extends SessionStoreError {
  static {
    brand(IndexError, 'IndexError');
  }

  /** `'IndexError'`. */
  override readonly name = 'IndexError';
  /** Which index: the TTL index on the expiry field or the unique index on `idField`. */
  readonly index: 'ttl' | 'unique';

  constructor(index: 'ttl' | 'unique', problem: string, cause: unknown) {
    super(`${problem} (${driverSummary(cause)})`, 'INDEX_FAILED', { cause });
    this.index = index;
  }
}

/**
 * A session id that is not a non-empty string of at most 4 096 characters, or one `transformId`
 * turned into something else than a non-empty string; raised before any query runs. The message
 * describes the value by type and length, never quotes it.
 */
export class InvalidSessionIdError extends TypeError {
  static {
    brand(InvalidSessionIdError, 'InvalidSessionIdError', true);
  }

  /** `'InvalidSessionIdError'`. */
  override readonly name = 'InvalidSessionIdError';
  /** `'INVALID_SESSION_ID'`, stable across versions. */
  readonly code = 'INVALID_SESSION_ID';

  constructor(
    received: unknown,
    expected = 'a session id to be a non-empty string',
    options: { readonly got?: string; readonly cause?: unknown } = {},
  ) {
    super(
      `Expected ${expected}, got ${options.got ?? describeValue(received)}`,
      'cause' in options ? { cause: withheld(options.cause) } : undefined,
    );
  }
}

/**
 * Session data the store cannot keep exactly (a circular reference, a `Map`, a `BigInt` beyond
 * 64 bits, a document over 16 MiB …); raised before anything is sent. The message names the
 * problem and its depth, never a key or a value of the session.
 */
export class InvalidSessionError extends TypeError {
  static {
    brand(InvalidSessionError, 'InvalidSessionError', true);
  }

  /** `'InvalidSessionError'`. */
  override readonly name = 'InvalidSessionError';
  /** `'INVALID_SESSION'`, stable across versions. */
  readonly code = 'INVALID_SESSION';
}

/**
 * Connecting sends no session, so the driver's message (which says refused, timed out or not
 * authorised) is kept, with the credentials of any connection string in it blanked.
 */
function connectionMessage(cause: unknown): string {
  if (!(cause instanceof Error)) return driverSummary(cause);
  const message = typeof cause.message === 'string' ? withoutCredentials(cause.message) : '';
  return message === '' ? driverSummary(cause) : `${driverSummary(cause)}: ${message}`;
}
