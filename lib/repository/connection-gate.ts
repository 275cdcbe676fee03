import PQueue from 'p-queue';
import {
  ConnectionError,
  OperationTimeoutError,
  OverloadedError,
  QueueFullError,
  type SessionStoreError,
  StoreClosedError,
} from '../errors/classes.js';
import { debug, described } from '../errors/debug.js';
import { type Deadline, OperationDeadline, withDeadline } from './deadline.js';
import { LoadShedder } from './load-shedder.js';

/** A connected value held by a long-running reader (a cursor), released when it is done. */
export interface Lease<T> {
  readonly value: T;
  /** Aborted, with a `StoreClosedError`, when the gate closes while the lease is held. */
  readonly signal: AbortSignal;
  /** Gives the lease back; safe to call more than once. */
  release(): void;
}

interface GateOptions {
  /** Operations pending at once (waiting or running, leases included) before new ones are refused. */
  readonly maxPending: number;
  /** Deadline of every operation in milliseconds, waiting included; `0` for none. */
  readonly timeoutMs: number;
  /**
   * The most operations sent to the database at once, however fast it answers (see
   * `LoadShedder`); the others wait their turn in the gate, where one that has waited half its
   * deadline is refused rather than sent. @default 64 (`DEFAULT_MAX_IN_FLIGHT` in load-shedder.ts)
   */
  readonly maxInFlight?: number | undefined;
  /** Called when a connection attempt succeeds, unless the gate was closed meanwhile. */
  readonly onOpen?: (() => void) | undefined;
}

/**
 * One connection attempt and the operations waiting for it. Operations queued during an attempt
 * settle with that attempt's outcome; a failed attempt leaves nothing behind, so the next
 * operation starts a fresh one.
 */
interface Round {
  readonly queue: PQueue;
  failure?: SessionStoreError;
}

/**
 * Holds operations until `connect` has resolved, then runs them, and from then on runs every
 * operation directly. Connecting starts with the first operation (or `open()`). Every operation
 * counts against `maxPending` until it has settled, before and after connecting, so memory stays
 * bounded while the database is away; and every operation settles by its deadline.
 *
 * Once connected, operations go to the database through a `LoadShedder`, which refuses, with
 * `OverloadedError`, what could not finish in time.
 */
export class ConnectionGate<T> {
  readonly #connect: () => Promise<T>;
  readonly #options: GateOptions;
  readonly #leases = new Set<AbortController>();
  /** Callers of `whenOpen` waiting for the connection attempt under way. */
  readonly #watchers = new Set<{ resolve(): void; reject(error: Error): void }>();
  #value: T | undefined;
  #round: Round = newRound();
  #connecting = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Operations not yet settled in the driver: what the bound counts. */
  #pending = 0;
  /** Operations whose caller is still waiting (each until its deadline at most): what `close` waits for. */
  #unanswered = 0;
  #drained: (() => void) | undefined;
  readonly #shedder: LoadShedder;
  readonly #release = () => {
    this.#pending -= 1;
  };
  readonly #answered = () => {
    this.#unanswered -= 1;
    if (this.#unanswered === 0) this.#drained?.();
  };

  constructor(connect: () => Promise<T>, options: GateOptions) {
    this.#connect = connect;
    this.#options = options;
    this.#shedder = new LoadShedder(options.maxInFlight, options.timeoutMs);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Operations pending now: waiting for the connection or their turn, running, or holding a lease. */
  get pending(): number {
    return this.#pending;
  }

  /** Operations sent to the database and not settled yet, those past their deadline included. */
  get inFlight(): number {
    return this.#shedder.inFlight;
  }

  /** Whether an operation got no answer by its deadline and none has been answered since. */
  get stalled(): boolean {
    return this.#shedder.stalled;
  }

  /**
   * Runs `operation` with the connected value, waiting for the connection if need be. Rejects at
   * once with `QueueFullError` past the pending bound, and with `OverloadedError` while the
   * database is not answering (see the class); with `OverloadedError` once it has waited half its
   * deadline for its turn; and with `OperationTimeoutError` once `name`'s deadline passes (the
   * operation itself still counts as pending until it settles). `operation` reports failure by
   * rejecting, never by throwing: pass an `async` function.
   */
  run<R>(name: string, operation: (value: T, deadline: Deadline) => Promise<R>): Promise<R> {
    return this.#start(name, operation, true);
  }

  /**
   * The connected value for a long-running reader, counted as pending until released, and
   * aborted when the gate closes (so `close` never waits on a reader that stopped reading).
   * Waiting for it is bounded as an operation is; holding it takes no turn and is never shed.
   */
  async lease(name: string): Promise<Lease<T>> {
    const value = await this.#start(name, async (connected) => connected, false);
    if (this.#closed) throw new StoreClosedError();
    this.#pending += 1;
    this.#unanswered += 1;
    const controller = new AbortController();
    this.#leases.add(controller);
    return {
      value,
      signal: controller.signal,
      release: () => {
        if (!this.#leases.delete(controller)) return;
        this.#release();
        this.#answered();
      },
    };
  }

  /**
   * Resolves once connected, starting a connection attempt if none is under way; rejects with
   * that attempt's `ConnectionError`, with `StoreClosedError` if the gate closes first, or at the
   * deadline. Not an operation: it holds no place in the bound, and `close` does not wait for it.
   */
  whenOpen(): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreClosedError());
    if (this.#value !== undefined) return Promise.resolve();
    const opened = new Promise<void>((resolve, reject) => {
      this.#watchers.add({ resolve, reject });
    });
    this.open();
    const { timeoutMs } = this.#options;
    return withDeadline(opened, timeoutMs, () => new OperationTimeoutError('ready', timeoutMs));
  }

  /** Starts connecting unless connected or already connecting. Never rejects: failures reach the waiting operations. */
  open(): void {
    if (this.#value !== undefined || this.#connecting || this.#closed) return;
    this.#connecting = true;
    const round = this.#round;
    const startedAt = Date.now();
    debug('connecting');
    this.#connect().then(
      (value) => {
        debug('connected in %d ms', Date.now() - startedAt);
        this.#value = value;
        this.#connecting = false;
        this.#notify((watcher) => watcher.resolve());
        try {
          // First, so that what it sends (the indexes) goes before the operations that waited.
          if (!this.#closed) this.#options.onOpen?.();
        } finally {
          round.queue.start();
        }
      },
      (error: unknown) => {
        debug('connecting failed after %d ms: %s', Date.now() - startedAt, described(error));
        round.failure ??= new ConnectionError(error);
        this.#round = newRound();
        this.#connecting = false;
        round.queue.start();
        const { failure } = round;
        this.#notify((watcher) => watcher.reject(failure));
      },
    );
  }

  /**
   * Refuses new operations and aborts leases; the returned promise resolves once every operation
   * already issued has been answered, each by its deadline at most. Operations still waiting for
   * a connection or their turn keep their chance until their deadline; without a deadline nothing
   * would bound that wait, so they are refused with `StoreClosedError` at once. Operations that
   * outlived their deadline in the driver are not waited for: closing the client ends them. Safe
   * to call twice.
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const lease of this.#leases) lease.abort(new StoreClosedError());
      this.#notify((watcher) => watcher.reject(new StoreClosedError()));
      if (this.#options.timeoutMs === 0) {
        const round = this.#round;
        round.failure ??= new StoreClosedError();
        round.queue.start();
        this.#shedder.refuseWaiting(() => new StoreClosedError());
      }
    }
    this.#closing ??= new Promise<void>((resolve) => {
      if (this.#unanswered === 0) resolve();
      else this.#drained = resolve;
    });
    return this.#closing;
  }

  /** `run`; an operation that `takesTurn` is sent as the load allows, the other runs at once. */
  #start<R>(
    name: string,
    operation: (value: T, deadline: Deadline) => Promise<R>,
    takesTurn: boolean,
  ): Promise<R> {
    if (this.#closed) return Promise.reject(new StoreClosedError());
    if (this.#pending >= this.#options.maxPending) {
      return Promise.reject(new QueueFullError(this.#options.maxPending));
    }
    const value = this.#value;
    if (takesTurn && value !== undefined && this.#shedder.refusesAtOnce) {
      return Promise.reject(new OverloadedError(name, 'unanswered', this.#options.timeoutMs));
    }
    this.#pending += 1;
    this.#unanswered += 1;
    const deadline = new OperationDeadline(this.#options.timeoutMs);
    if (value !== undefined) {
      const sent = takesTurn
        ? this.#shedder.dispatch(name, operation, value, deadline)
        : operation(value, deadline);
      return this.#bounded(name, deadline, sent);
    }
    const round = this.#round;
    // Only an operation that waits gets an abort controller: p-queue drops it when it expires.
    const waiting = new AbortController();
    deadline.withdraw = (error) => waiting.abort(error);
    const queued = round.queue.add(
      () => {
        // A round's queue starts only once its attempt has settled, so one of these is set.
        if (round.failure !== undefined) return Promise.reject(round.failure);
        const connected = this.#value as T;
        deadline.at = performance.now();
        return takesTurn
          ? this.#shedder.dispatch(name, operation, connected, deadline)
          : operation(connected, deadline);
      },
      { signal: waiting.signal },
    );
    this.open();
    return this.#bounded(name, deadline, queued);
  }

  #notify(settle: (watcher: { resolve(): void; reject(error: Error): void }) => void): void {
    for (const watcher of this.#watchers) settle(watcher);
    this.#watchers.clear();
  }

  /** Settles with `operation` or with a timeout, whichever comes first; counts it as pending until it settles. */
  #bounded<R>(name: string, deadline: OperationDeadline, operation: Promise<R>): Promise<R> {
    operation.then(this.#release, this.#release);
    const { timeoutMs } = this.#options;
    const answer = withDeadline(operation, timeoutMs, () => {
      deadline.expired = true;
      const timeout = new OperationTimeoutError(name, timeoutMs);
      if (deadline.sent) this.#shedder.expired(name, deadline);
      // Still waiting: taken out of its queue, which settles it and frees its place in the bound.
      else deadline.withdraw?.(timeout);
      return timeout;
    });
    answer.then(this.#answered, this.#answered);
    return answer;
  }
}

function newRound(): Round {
  return { queue: new PQueue({ autoStart: false, concurrency: Number.POSITIVE_INFINITY }) };
}
