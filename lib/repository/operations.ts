/**
 * How one operation of the repository runs: through the gate; with what is left of its deadline
 * sent to the server as `maxTimeMS` with each command; its errors reported by the store's one
 * rule (errors/wrapping.ts), so the server's `MaxTimeMSExpired` is an `OperationTimeoutError`;
 * and, where it is idempotent, tried once more on a transient error while its deadline allows.
 */
import type { Collection } from 'mongodb';
import type { SessionDocument } from '../codec/session-types.js';
import type { SessionStoreError } from '../errors/classes.js';
import { debug, described } from '../errors/debug.js';
import { isTransient } from '../errors/driver-errors.js';
import { storeError } from '../errors/wrapping.js';
import type { ConnectionGate } from './connection-gate.js';
import type { Deadline } from './deadline.js';

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

/** The work of one operation on the session collection; `limit` goes with each of its commands. */
export type SessionStep<R> = (
  sessions: Collection<SessionDocument>,
  limit: TimeLimit,
) => Promise<R>;

/** Runs the repository's operations through the gate, by the rules above. */
export class Operations {
  readonly #gate: ConnectionGate<Collection<SessionDocument>>;
  readonly #timeoutMs: number;

  /** `timeoutMs`: the gate's deadline (`operationTimeoutMs`), which a server-side timeout reports. */
  constructor(gate: ConnectionGate<Collection<SessionDocument>>, timeoutMs: number) {
    this.#gate = gate;
    this.#timeoutMs = timeoutMs;
  }

  /** Runs `step` once, as the operation `name` (which errors name). */
  run<R>(name: string, step: SessionStep<R>): Promise<R> {
    return this.#run(name, step, false);
  }

  /** Runs an idempotent `step`: on a transient error, once more while its deadline allows. */
  retried<R>(name: string, step: SessionStep<R>): Promise<R> {
    return this.#run(name, step, true);
  }

  #run<R>(name: string, step: SessionStep<R>, retry: boolean): Promise<R> {
    return this.#gate.run(name, async (sessions, deadline) => {
      try {
        return await step(sessions, timeLimit(deadline));
      } catch (error) {
        if (!retry || deadline.expired || this.#gate.closed || !isTransient(error)) {
          throw this.#failed(name, error);
        }
        debug('%s: retrying once after %s', name, described(error));
      }
      try {
        return await step(sessions, timeLimit(deadline));
      } catch (error) {
        throw this.#failed(name, error);
      }
    });
  }

  #failed(name: string, error: unknown): SessionStoreError {
    return storeError(error, { operation: name, timeoutMs: this.#timeoutMs });
  }
}
