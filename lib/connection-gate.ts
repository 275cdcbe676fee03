import PQueue from 'p-queue';
import { ConnectionError, QueueFullError, StoreClosedError } from './errors.js';

/**
 * One connection attempt and the operations waiting for it. Operations queued during an attempt
 * settle with that attempt's outcome; a failed attempt leaves nothing behind, so the next
 * operation starts a fresh one.
 */
interface Round {
  readonly queue: PQueue;
  failure?: ConnectionError;
}

/**
 * Holds operations until `connect` has resolved, then runs them, and from then on runs every
 * operation directly. Connecting starts with the first operation (or `open()`).
 */
export class ConnectionGate<T> {
  readonly #connect: () => Promise<T>;
  readonly #maxPending: number;
  #value: T | undefined;
  #round: Round = newRound();
  #connecting = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  readonly #release = () => {
    this.#inFlight -= 1;
    if (this.#inFlight === 0) this.#drained?.();
  };

  constructor(connect: () => Promise<T>, maxPending: number) {
    this.#connect = connect;
    this.#maxPending = maxPending;
  }

  /** The connected value, once there is one. */
  get value(): T | undefined {
    return this.#value;
  }

  /** Runs `operation` with the connected value, waiting for the connection if need be. */
  run<R>(operation: (value: T) => Promise<R>): Promise<R> {
    if (this.#closed) return Promise.reject(new StoreClosedError());
    const value = this.#value;
    if (value !== undefined) return this.#track(operation(value));

    const round = this.#round;
    if (round.queue.size >= this.#maxPending) {
      return Promise.reject(new QueueFullError(this.#maxPending));
    }
    const queued = round.queue.add(() => {
      // A round's queue starts only once its attempt has settled, so one of these is set.
      if (round.failure !== undefined) return Promise.reject(round.failure);
      return this.#track(operation(this.#value as T));
    });
    this.open();
    return queued;
  }

  /** Starts connecting unless connected or already connecting. Never rejects: failures reach the waiting operations. */
  open(): void {
    if (this.#value !== undefined || this.#connecting || this.#closed) return;
    this.#connecting = true;
    const round = this.#round;
    this.#connect().then(
      (value) => {
        this.#value = value;
        this.#connecting = false;
        round.queue.start();
      },
      (error: unknown) => {
        round.failure = new ConnectionError(error);
        this.#round = newRound();
        this.#connecting = false;
        round.queue.start();
      },
    );
  }

  /** Refuses new operations, then waits for queued and running ones to settle. Safe to call twice. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#settle();
    return this.#closing;
  }

  async #settle(): Promise<void> {
    await this.#round.queue.onIdle();
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
  }

  #track<R>(promise: Promise<R>): Promise<R> {
    this.#inFlight += 1;
    return promise.finally(this.#release);
  }
}

function newRound(): Round {
  return { queue: new PQueue({ autoStart: false, concurrency: Number.POSITIVE_INFINITY }) };
}
