/**
 * Deadlines: what an operation knows of its own (`Deadline`), what the gate and the load shedder
 * track of it (`OperationDeadline`), and how a promise is bounded by one (`withDeadline`).
 */

/** What an operation learns of its own deadline. */
export interface Deadline {
  /** Whether it has passed (so the operation does not retry). */
  readonly expired: boolean;
  /**
   * Milliseconds left, at least 1, to send as a command's `maxTimeMS`, so that the server too
   * gives up work the caller no longer waits for; `undefined` when operations have no deadline.
   */
  readonly remainingMs: number | undefined;
}

/** An operation's deadline and where it stands, as the gate and the load shedder see it. */
export class OperationDeadline implements Deadline {
  expired = false;
  /** Whether the operation has been sent to the database (a lease's wait never is). */
  sent = false;
  /** Takes the operation out of the queue that holds it, rejecting it with `error`. */
  withdraw: ((error: Error) => void) | undefined;
  /** `performance.now()` when issued, then when sent: where its round trip starts. */
  at: number;
  /** Sent, and past its deadline without an answer: stuck somewhere, see `LoadShedder`. */
  overdue = false;
  /** Sent, and answered or failed. */
  settled = false;
  readonly #endsAt: number;

  constructor(timeoutMs: number) {
    this.at = performance.now();
    this.#endsAt = timeoutMs === 0 ? Number.NaN : this.at + timeoutMs;
  }

  get remainingMs(): number | undefined {
    if (Number.isNaN(this.#endsAt)) return undefined;
    return Math.max(1, Math.floor(this.#endsAt - performance.now()));
  }
}

/**
 * Settles with `promise`, or rejects with what `onTimeout` returns once `timeoutMs` has passed
 * (`0`: never). `promise` keeps running; its outcome is then ignored, never unhandled.
 */
export function withDeadline<R>(
  promise: Promise<R>,
  timeoutMs: number,
  onTimeout: () => Error,
): Promise<R> {
  if (timeoutMs === 0) return promise;
  return new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
