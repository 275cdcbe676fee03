/**
 * The database server's clock, as this process reckons it. Expiry is decided in the server's
 * time, never an app server's alone: an app server whose clock runs fast would otherwise sweep
 * away live sessions, and one whose clock runs slow would serve expired ones and store sessions
 * already past their expiry. The offset is measured from `hello`'s `localTime` at connection and
 * then every `CLOCK_REFRESH_MS`; within `SKEW_TOLERANCE_MS` the clocks are taken to agree, so that
 * app servers with good clocks write the same expiries they always did.
 */
import { debug } from '../errors/debug.js';
import { warnOnce } from '../errors/warnings.js';

/** Skews up to this are a network's jitter and ordinary clock drift, and are not corrected. */
export const SKEW_TOLERANCE_MS = 5_000;
/** How often the offset is measured again while the store is open. */
export const CLOCK_REFRESH_MS = 60_000;
/** `code` of the process warning for a clock that disagrees with the server's. */
export const CLOCK_SKEW_WARNING_CODE = 'SESSION_STORE_CLOCK_SKEW';

/** One warning a process, however many stores it has and however the skew moves. */
let skewWarned = false;

export class ServerClock {
  #offsetMs = 0;

  /** `Date.now()` in the server's time. */
  now(): number {
    return Date.now() + this.#offsetMs;
  }

  /** A time this process reckoned (a cookie's expiry, computed by express-session here), in the server's time. */
  toServer(local: Date): Date {
    return this.#offsetMs === 0 ? local : new Date(local.getTime() + this.#offsetMs);
  }

  /** How far the server's clock is ahead of this process's, as corrected (0 within the tolerance). */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  /**
   * Takes the server's `localTime` from a `hello` sent at `sentAt` and answered at `receivedAt`
   * (both `Date.now()`): the server read its clock about halfway between.
   */
  observe(serverTime: unknown, sentAt: number, receivedAt: number): void {
    if (!(serverTime instanceof Date) || Number.isNaN(serverTime.getTime())) {
      debug('clock: the server gave no localTime; expiry follows this process clock');
      return;
    }
    const offset = Math.round(serverTime.getTime() - (sentAt + receivedAt) / 2);
    const corrected = Math.abs(offset) > SKEW_TOLERANCE_MS ? offset : 0;
    if (corrected !== this.#offsetMs) {
      debug(
        'clock: this process is %d ms behind the database server; expiry follows the server',
        offset,
      );
    }
    this.#offsetMs = corrected;
    if (corrected !== 0 && !skewWarned) {
      skewWarned = true;
      warnOnce(
        `connect-mongodb-session: this process's clock is ${Math.round(Math.abs(offset) / 1000)} s ${offset > 0 ? 'behind' : 'ahead of'} the database server's; the store decides expiry by the server's clock. Synchronise the clocks (NTP).`,
        CLOCK_SKEW_WARNING_CODE,
      );
    }
  }
}
