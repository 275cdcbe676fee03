/**
 * FerretDB 1.x skips a `$set` whose value it finds identical to the stored one, and its test of
 * identity compares documents value by value, ignoring their keys: a cart going from
 * `{ sku1: 1 }` to `{ sku2: 1 }` is answered "matched 1, modified 0" and the old cart stays
 * (`types.Identical` in its handler; its filters compare keys, its `$set` does not).
 *
 * So on FerretDB 1.x (its `buildInfo` names a `ferretdbVersion` of 1.x) a write whose stored
 * form has other keys than the stored session first marks the stored session: a statement of
 * the same command adds the key `REWRITE_MARK` to it, which no session key is stored as (the
 * codec escapes a session's own `%` as `%25`) and which reads drop. The stored session then has
 * one more key than the new one, which FerretDB cannot take for identical, and the write that
 * follows lands; one command still. The shapes of recently read and written sessions are
 * remembered, so that the mark is sent only when the keys change (a login adding `user`, a cart
 * changing items). Where the stored keys are not known, the write goes unmarked, and is sent
 * again marked only if it found a stored session. Other servers compare keys: nothing changes
 * there, and nothing is remembered.
 */
import { createHash } from 'node:crypto';
import { setNewest } from '../support/bounded-map.js';
import { isPlainObject } from '../support/values.js';

/** The key a write adds to a stored session before replacing it; never a session's own key as stored. */
export const REWRITE_MARK = '%';

/** Whether the server answering `buildInfo` with `reply` skips a `$set` of values equal under other keys. */
export function ignoresKeysInSet(reply: { readonly ferretdbVersion?: unknown }): boolean {
  const version = reply.ferretdbVersion;
  return typeof version === 'string' && /^v?1\./.test(version);
}

/** What a write must do for FerretDB: nothing more, mark first, or see (the keys stored are not known). */
export type MarkNeed = 'none' | 'mark' | 'unknown';

/** The keys of a session's stored form, at every depth, as a digest; none for a string or a sealed form. */
export function keyShape(stored: unknown): string | undefined {
  if (!isPlainObject(stored)) return undefined;
  const hash = createHash('sha256');
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      hash.update('[');
      for (const element of value) walk(element);
      hash.update(']');
    } else if (isPlainObject(value)) {
      hash.update('{');
      for (const [key, inner] of Object.entries(value)) {
        hash.update(`${key.length}:${key}`);
        walk(inner);
      }
      hash.update('}');
    } else {
      hash.update('.');
    }
  };
  walk(stored);
  return hash.digest('base64url');
}

/** The key shapes of stored sessions, by session id: the session's and its cookie's. */
export interface StoredShape {
  readonly session: string | undefined;
  readonly cookie: string | undefined;
}

/** Recently seen shapes, the oldest forgotten first past `limit`; off until `enable()`. */
export class KeyShapes {
  readonly #entries = new Map<string, StoredShape>();
  readonly #limit: number;
  #enabled = false;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  /** The server skips `$set`s of values equal under other keys: writes are checked from now on. */
  enable(): void {
    this.#enabled = true;
  }

  /** What a read found, or a write stored, under `sid`. */
  remember(sid: string, stored: unknown): void {
    if (!this.#enabled) return;
    const cookie = isPlainObject(stored) ? stored.cookie : undefined;
    const shape = { session: keyShape(stored), cookie: keyShape(cookie) };
    setNewest(this.#entries, sid, shape, this.#limit);
  }

  /** Whether writing `stored` as the session of `sid` needs the mark (see `MarkNeed`). */
  sessionNeed(sid: string, stored: unknown): MarkNeed {
    return this.#need(this.#entries.get(sid)?.session, stored);
  }

  /** The same for a touch's cookie alone. */
  cookieNeed(sid: string, cookie: unknown): MarkNeed {
    return this.#need(this.#entries.get(sid)?.cookie, cookie);
  }

  #need(known: string | undefined, stored: unknown): MarkNeed {
    if (!this.#enabled) return 'none';
    const shape = keyShape(stored);
    if (shape === undefined || known === shape) return 'none';
    return known === undefined ? 'unknown' : 'mark';
  }

  /** What a touch stored as the cookie of `sid`; the rest of the session keeps its keys. */
  rememberCookie(sid: string, cookie: unknown): void {
    if (!this.#enabled) return;
    const known = this.#entries.get(sid);
    const shape = keyShape(cookie);
    if (known === undefined || known.cookie === shape) return;
    // The session's own shape includes its cookie's, which changed: it is no longer known.
    this.#entries.set(sid, { session: undefined, cookie: shape });
  }

  forget(sid: string): void {
    this.#entries.delete(sid);
  }

  clear(): void {
    this.#entries.clear();
  }
}
