import PQueue from 'p-queue';
import { debug, described } from '../errors/debug.js';
import {
  ConnectionError,
  OperationTimeoutError,
  OverloadedError,
  QueueFullError,
  type SessionStoreError,
  StoreClosedError,
} from '../errors/errors.js';

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

/** A connected value held by a long-running reader (a cursor), released when it is done. */
export interface Lease<T> {
  readonly value: T;
  /** Aborted, with a `StoreClosedError`, when the gate closes while the lease is held. */
  readonly signal: AbortSignal;
  /** Gives the lease back; safe to call more than once. */
  release(): void;
}

export interface GateOptions {
  /** Operations pending at once (waiting or running, leases included) before new ones are refused. */
  readonly maxPending: number;
  /** Deadline of every operation in milliseconds, waiting included; `0` for none. */
  readonly timeoutMs: number;
  /**
   * The most operations sent to the database at once, however fast it answers (see
   * `LoadShedder`); the others wait their turn in the gate, where one that has waited half its
   * deadline is refused rather than sent. @default 64 (`DEFAULT_MAX_IN_FLIGHT`)
   */
  readonly maxInFlight?: number | undefined;
  /** Called when a connection attempt succeeds, unless the gate was closed meanwhile. */
  readonly onOpen?: (() => void) | undefined;
}

/**
 * The most operations sent to the database at once by default, below the driver's pool of 100
 * connections so that probes and cursors still find one. More only queue in the driver or in
 * the server, where nothing can refuse them any more.
 */
export const DEFAULT_MAX_IN_FLIGHT = 64;

/**
 * Operations that may always be in flight, however little the database has answered lately: a
 * small burst on a quiet store goes out at once.
 */
export const MIN_IN_FLIGHT = 8;

/**
 * How much of the database's work may be in flight: what it answered in the last quarter of a
 * second, or in twice its quickest recent round trip where that is longer (a distant server, or
 * one slow to answer but able to answer many at once). What is in flight when it stalls is what
 * it must work off, for callers long gone, before it answers anyone again.
 */
const IN_FLIGHT_SECONDS = 0.25;

/** How long the quickest round trip seen is remembered, in milliseconds (between 1 and 2 times this). */
const ROUND_TRIP_MEMORY_MS = 10_000;

/**
 * Probes while the database is not answering: an operation is sent as a probe only while fewer
 * than this many probes sent in the last `PROBE_PATIENCE` of the deadline are unanswered. A probe
 * that waits longer stays in flight, but the next one may go, so that one sent after the driver
 * has found a new primary is never held back by those stuck on the old one.
 */
export const PROBES = 2;

/** The share of the deadline after which a probe no longer holds back the next one. */
const PROBE_PATIENCE = 0.2;

/** The share of its deadline an operation may spend waiting for its turn before it is refused. */
const QUEUE_SHARE = 0.5;

/**
 * One connection attempt and the operations waiting for it. Operations queued during an attempt
 * settle with that attempt's outcome; a failed attempt leaves nothing behind, so the next
 * operation starts a fresh one.
 */
interface Round {
  readonly queue: PQueue;
  failure?: SessionStoreError;
}

/** An operation's deadline and where it stands. */
class OperationDeadline implements Deadline {
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
    this.#shedder = new LoadShedder(
      options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
      options.timeoutMs,
    );
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

/** An operation waiting for its turn among those in flight. */
interface Turn {
  readonly name: string;
  readonly since: number;
  /** Sends the operation; settles the caller's promise with its outcome. */
  readonly send: () => void;
  readonly refuse: (error: Error) => void;
  done: boolean;
}

/**
 * Sends operations to the connected database as the load allows, so that, when it stalls or
 * falls behind, it has only work someone still waits for once it answers again.
 *
 * - It sends at once as many as the database answers in a quarter of a second, or in twice its
 *   quickest recent round trip (at least `MIN_IN_FLIGHT`, at most `maxInFlight`). The others wait
 *   their turn, and one that has waited half its deadline is refused with `OverloadedError`
 *   instead of being sent. An operation past its deadline no longer takes a place: it may be
 *   stuck on a server the driver has left (a frozen old primary).
 * - Once an operation sent gets no answer by its deadline, and nothing sent since has been
 *   answered either, the operations waiting are refused, and only a few probes are sent (see
 *   `PROBES`), the others refused at once, until one is answered.
 *
 * While nothing waits and the database answers, an operation costs a few counters.
 */
class LoadShedder {
  readonly #maxInFlight: number;
  readonly #timeoutMs: number;
  /** Operations sent, within their deadline and not settled: what the limit counts. */
  #inFlight = 0;
  /** Operations sent, past their deadline and not settled. */
  #overdue = 0;
  /** How many may be in flight now: see `#countAnswer`. */
  #limit: number;
  /** Operations answered in the last second, in ten buckets of 100 ms, and their sum. */
  readonly #answers = new Uint32Array(10);
  #answeredLastSecond = 0;
  /** The newest bucket, as a count of 100 ms since the time origin. */
  #bucket = 0;
  /** `performance.now()` of the last answer. */
  #lastAnswerAt = Number.NEGATIVE_INFINITY;
  /** The quickest round trip of the current period of `ROUND_TRIP_MEMORY_MS`, and of the one before. */
  #quickest = Number.POSITIVE_INFINITY;
  #quickestBefore = Number.POSITIVE_INFINITY;
  #periodEnds = 0;
  /** Operations waiting for their turn, oldest first from `#next`; those taken are marked `done`. */
  #turns: Turn[] = [];
  #next = 0;
  #waiting = 0;
  /** Since an operation sent got no answer by its deadline, and until one is answered. */
  #stalled = false;
  /** The probes sent while stalled that may still hold back the next one: see `PROBES`. */
  #probes: OperationDeadline[] = [];

  constructor(maxInFlight: number, timeoutMs: number) {
    this.#maxInFlight = maxInFlight;
    this.#timeoutMs = timeoutMs;
    this.#limit = Math.min(MIN_IN_FLIGHT, maxInFlight);
  }

  /** Operations sent and not settled, those past their deadline included. */
  get inFlight(): number {
    return this.#inFlight + this.#overdue;
  }

  get stalled(): boolean {
    return this.#stalled;
  }

  /** Whether `dispatch` would refuse an operation now: stalled, and no probe may go. */
  get refusesAtOnce(): boolean {
    return this.#stalled && !this.#mayProbe();
  }

  /** Sends `operation` now, as a probe, or when its turn comes; or refuses it while stalled. */
  dispatch<V, R>(
    name: string,
    operation: (value: V, deadline: Deadline) => Promise<R>,
    value: V,
    deadline: OperationDeadline,
  ): Promise<R> {
    if (this.#stalled) {
      if (!this.#mayProbe()) {
        return Promise.reject(new OverloadedError(name, 'unanswered', this.#timeoutMs));
      }
      deadline.at = performance.now();
      this.#probes.push(deadline);
      return this.#send(operation, value, deadline);
    }
    if (this.#inFlight < this.#limit && this.#waiting === 0) {
      return this.#send(operation, value, deadline);
    }
    return new Promise<R>((resolve, reject) => {
      const turn: Turn = {
        name,
        since: performance.now(),
        send: () => {
          deadline.at = performance.now();
          this.#send(operation, value, deadline).then(resolve, reject);
        },
        refuse: reject,
        done: false,
      };
      deadline.withdraw = (error) => {
        if (turn.done) return;
        turn.done = true;
        this.#waiting -= 1;
        reject(error);
      };
      this.#turns.push(turn);
      this.#waiting += 1;
    });
  }

  /**
   * An operation sent got no answer by its deadline: it no longer takes a place. Unless the
   * database has answered since it was sent, it is not answering: only probes go through until it
   * answers one.
   */
  expired(name: string, deadline: OperationDeadline): void {
    if (deadline.settled || deadline.overdue) return;
    deadline.overdue = true;
    this.#inFlight -= 1;
    this.#overdue += 1;
    if (this.#lastAnswerAt >= deadline.at) {
      if (this.#waiting > 0) this.#takeTurns();
      return;
    }
    if (this.#stalled) return;
    this.#stalled = true;
    debug(
      '%s got no answer within %d ms; %d operations in flight, %d waiting for their turn are refused; only probes go through until one is answered',
      name,
      this.#timeoutMs,
      this.#inFlight + this.#overdue,
      this.#waiting,
    );
    const timeoutMs = this.#timeoutMs;
    this.refuseWaiting((waiting) => new OverloadedError(waiting, 'unanswered', timeoutMs));
  }

  /** Refuses every operation waiting for its turn, with the error `refusal` makes for its name. */
  refuseWaiting(refusal: (name: string) => Error): void {
    for (let turn = this.#nextTurn(); turn !== undefined; turn = this.#nextTurn()) {
      turn.refuse(refusal(turn.name));
    }
  }

  #send<V, R>(
    operation: (value: V, deadline: Deadline) => Promise<R>,
    value: V,
    deadline: OperationDeadline,
  ): Promise<R> {
    this.#inFlight += 1;
    deadline.sent = true;
    const sent = operation(value, deadline);
    sent.then(
      () => this.#settled(deadline, true),
      () => this.#settled(deadline, false),
    );
    return sent;
  }

  #settled(deadline: OperationDeadline, answered: boolean): void {
    deadline.settled = true;
    if (deadline.overdue) this.#overdue -= 1;
    else this.#inFlight -= 1;
    if (answered) {
      this.#countAnswer(deadline.at);
      if (this.#stalled) {
        this.#stalled = false;
        debug('the database answers again; %d operations still in flight', this.inFlight);
      }
    }
    if (this.#waiting > 0) this.#takeTurns();
  }

  /**
   * Whether a probe may go now: fewer than `PROBES` sent in the last `PROBE_PATIENCE` of the
   * deadline are unanswered, and no more are in flight than twice the limit, so that what the
   * database finds waiting when it answers again stays a fraction of a second of its work.
   */
  #mayProbe(): boolean {
    if (this.#inFlight + this.#overdue >= 2 * this.#limit) return false;
    const since = performance.now() - this.#timeoutMs * PROBE_PATIENCE;
    this.#probes = this.#probes.filter((probe) => !probe.settled && probe.at > since);
    return this.#probes.length < PROBES;
  }

  /**
   * Counts an answer to an operation sent at `sentAt`, and lets in flight what the database
   * answers in `IN_FLIGHT_SECONDS`, or in twice its quickest recent round trip. After a stall the
   * count starts afresh, so the load comes back as the database answers.
   */
  #countAnswer(sentAt: number): void {
    const now = performance.now();
    this.#lastAnswerAt = now;
    const bucket = Math.floor(now / 100);
    if (bucket !== this.#bucket) {
      // The buckets between the newest one and this one are more than a second old: emptied.
      for (let step = Math.min(10, bucket - this.#bucket); step > 0; step -= 1) {
        const index = (bucket - step + 1) % 10;
        this.#answeredLastSecond -= this.#answers[index] ?? 0;
        this.#answers[index] = 0;
      }
      this.#bucket = bucket;
    }
    const index = bucket % 10;
    this.#answers[index] = (this.#answers[index] ?? 0) + 1;
    this.#answeredLastSecond += 1;
    if (now > this.#periodEnds) {
      this.#quickestBefore = this.#quickest;
      this.#quickest = Number.POSITIVE_INFINITY;
      this.#periodEnds = now + ROUND_TRIP_MEMORY_MS;
    }
    this.#quickest = Math.min(this.#quickest, now - sentAt);
    const quickest = Math.min(this.#quickest, this.#quickestBefore);
    const seconds = Math.max(IN_FLIGHT_SECONDS, (2 * quickest) / 1000);
    const share = Math.ceil(this.#answeredLastSecond * seconds);
    this.#limit = Math.min(this.#maxInFlight, Math.max(MIN_IN_FLIGHT, share));
  }

  /** Sends waiting operations while there is room, refusing those that waited half their deadline. */
  #takeTurns(): void {
    const timeoutMs = this.#timeoutMs;
    const oldest =
      timeoutMs === 0 ? Number.NEGATIVE_INFINITY : performance.now() - timeoutMs * QUEUE_SHARE;
    while (this.#inFlight < this.#limit && !this.#stalled) {
      const turn = this.#nextTurn();
      if (turn === undefined) return;
      if (turn.since < oldest) turn.refuse(new OverloadedError(turn.name, 'queued', timeoutMs));
      else turn.send();
    }
  }

  /** The oldest operation still waiting for its turn, taken out of the queue. */
  #nextTurn(): Turn | undefined {
    while (this.#next < this.#turns.length) {
      const turn = this.#turns[this.#next] as Turn;
      this.#next += 1;
      if (turn.done) continue;
      turn.done = true;
      this.#waiting -= 1;
      // Drops the turns taken, now and then, so that a queue never empty does not grow forever.
      if (this.#next >= 1_024 && this.#next * 2 >= this.#turns.length) {
        this.#turns = this.#turns.slice(this.#next);
        this.#next = 0;
      }
      return turn;
    }
    this.#turns = [];
    this.#next = 0;
    return undefined;
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

function newRound(): Round {
  return { queue: new PQueue({ autoStart: false, concurrency: Number.POSITIVE_INFINITY }) };
}
