/**
 * Overload control: how many operations go to the connected database at once, and which are
 * refused (`OverloadedError`) rather than sent when it stalls or falls behind. The gate hands
 * every operation to a `LoadShedder` once connected.
 */

import { OverloadedError } from '../errors/classes.js';
import { debug } from '../errors/debug.js';
import type { Deadline, OperationDeadline } from './deadline.js';

/**
 * The most operations sent to the database at once by default, below the driver's pool of 100
 * connections so that probes and cursors still find one. More only queue in the driver or in
 * the server, where nothing can refuse them any more.
 */
const DEFAULT_MAX_IN_FLIGHT = 64;

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
export class LoadShedder {
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

  /** `maxInFlight`: see `GateOptions.maxInFlight` (default `DEFAULT_MAX_IN_FLIGHT`); `timeoutMs`: the operations' deadline. */
  constructor(maxInFlight: number | undefined, timeoutMs: number) {
    this.#maxInFlight = maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.#timeoutMs = timeoutMs;
    this.#limit = Math.min(MIN_IN_FLIGHT, this.#maxInFlight);
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
