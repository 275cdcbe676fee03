/**
 * Lazy touch's memory: the stored expiry of the sessions this process read or wrote recently, so
 * that a touch can tell without a round trip whether it must write (the decision itself is
 * `ExpiryPolicy.touchNeeded`).
 */
import { setNewest } from '../support/bounded-map.js';

interface Remembered {
  readonly expires: Date;
  /** When this became known: when the read that found it was sent, or when our write of it landed. */
  readonly at: number;
  /** Our writes of this session still in flight. */
  readonly writing: number;
}

/**
 * The stored expiry of recently read or written sessions, so that a touch right after a `get`
 * (express-session's order within a request) decides without a round trip. Bounded: the oldest
 * entries go first. An entry older than the touch window is not trusted: another process may
 * have written since.
 *
 * Newer knowledge wins. While one of our writes is in flight, concurrent touches see the expiry
 * it writes and do not write it again (many requests of one visitor at once would otherwise all
 * write when the window passes), and reads do not override it: they may have been answered
 * before it landed. A read sent before our last write landed (or in the same millisecond) is
 * ignored for the same reason.
 */
export class StoredExpiries {
  readonly #entries = new Map<string, Remembered>();
  readonly #limit: number;
  readonly #maxAgeMs: number;

  constructor(maxAgeMs: number, limit = 10_000) {
    this.#maxAgeMs = maxAgeMs;
    this.#limit = limit;
  }

  /** What a read sent at `sentAt` found stored. */
  read(sid: string, expires: Date, sentAt: number): void {
    const entry = this.#entries.get(sid);
    if (entry !== undefined && (entry.writing > 0 || entry.at >= sentAt)) return;
    this.#set(sid, { expires, at: sentAt, writing: 0 });
  }

  /**
   * Runs `write`, our write of `expires`: known at once to concurrent touches (from the call, so
   * before the write waits for its turn at the gate), trusted from when it lands, forgotten if it
   * fails (what is stored is then unknown) or if `stored` says it stored nothing.
   */
  async writing<R>(
    sid: string,
    expires: Date,
    write: () => Promise<R>,
    stored: (result: R) => boolean = () => true,
  ): Promise<R> {
    if (this.#maxAgeMs === 0) return write();
    const before = this.#entries.get(sid)?.writing ?? 0;
    this.#set(sid, { expires, at: Date.now(), writing: before + 1 });
    try {
      const result = await write();
      // A write that stored nothing (the session had ended or gone) leaves nothing to remember.
      if (!stored(result)) {
        this.#entries.delete(sid);
        return result;
      }
      const writing = Math.max(0, (this.#entries.get(sid)?.writing ?? 1) - 1);
      this.#set(sid, { expires, at: Date.now(), writing });
      return result;
    } catch (error) {
      this.#entries.delete(sid);
      throw error;
    }
  }

  /** The stored expiry, if known and fresh (or being written by us). */
  recall(sid: string, now = Date.now()): Date | undefined {
    const entry = this.#entries.get(sid);
    if (entry === undefined) return undefined;
    if (entry.writing === 0 && now - entry.at > this.#maxAgeMs) {
      this.#entries.delete(sid);
      return undefined;
    }
    return entry.expires;
  }

  forget(sid: string): void {
    this.#entries.delete(sid);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  #set(sid: string, entry: Remembered): void {
    if (this.#maxAgeMs === 0) return;
    setNewest(this.#entries, sid, entry, this.#limit);
  }
}
