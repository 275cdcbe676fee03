/**
 * The one rule for what the store reports when something fails, whichever layer catches it (an
 * operation of the repository, a cursor, the store's events and constructor callback):
 *
 * 1. The store's own errors pass as they are: a closed store, a timeout, a refusal, a failed
 *    connection, an unreadable session. They already say what failed and quote nothing.
 * 2. The server's end of the deadline the store sent with a command (`MaxTimeMSExpired`) is the
 *    store's own timeout, `OperationTimeoutError`, as if the store had given up itself.
 * 3. Anything else (the driver's errors, a serializer's) is wrapped, as `cause`, in the error of
 *    what was under way: `OperationError` naming the operation; `UnreadableSessionError` for a
 *    stored session that could not be read back, which the read takes for no session (its
 *    subclass `SessionDecryptionError`, the codec's own, passes by rule 1).
 */

import {
  OperationError,
  OperationTimeoutError,
  SessionStoreError,
  UnreadableSessionError,
} from './classes.js';
import { serverCode } from './driver-errors.js';
import { SERVER_CODES } from './server-codes.js';

/** An operation that failed: the repository method, and the deadline it had (`operationTimeoutMs`). */
interface FailedOperation {
  readonly operation: string;
  readonly timeoutMs: number;
}

/** The reading back of one stored session (the codec's `decode`) failed. */
export const DECODING = 'decoding';

/** `error` as the store reports it, by the rule above. */
export function storeError(error: unknown, failed: FailedOperation): SessionStoreError;
export function storeError(error: unknown, failed: typeof DECODING): UnreadableSessionError;
export function storeError(
  error: unknown,
  failed: FailedOperation | typeof DECODING,
): SessionStoreError {
  if (failed === DECODING) {
    return error instanceof UnreadableSessionError
      ? error
      : new UnreadableSessionError('the session codec failed', error);
  }
  if (error instanceof SessionStoreError) return error;
  if (serverCode(error) === SERVER_CODES.MaxTimeMSExpired) {
    return new OperationTimeoutError(failed.operation, failed.timeoutMs);
  }
  return new OperationError(failed.operation, error);
}
