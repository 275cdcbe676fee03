/**
 * `connect-mongodb-session/koa`: koa-session's external store (`get`, `set`, `destroy`) on a
 * `SessionRepository`. It translates koa-session's contract into repository calls; lazy touch,
 * encryption, hashed ids and ended sessions are the repository's, as for express-session. The
 * one thing translating needs beyond renaming: koa-session's `changed: false` does not mean the
 * session is the one stored (see `#reads`), so the store checks that before choosing `touch`.
 * It loads neither koa nor express-session.
 *
 * The stored form: the session's fields at the top, as express-session's are, and koa-session's
 * own fields (`_expire` and `_maxAge`, or `_session` for a browser-session cookie) inside
 * `session.cookie` beside its `expires`, because the cookie is what a touch rewrites.
 */

import type { AnySession } from '../codec/session-types.js';
import { InvalidSessionError } from '../errors/classes.js';
import type { SessionRepositoryOptions } from '../options/options.js';
import { SessionRepository } from '../repository/session-repository.js';

/**
 * A koa session as koa-session gives it to its store and takes it back: the application's fields
 * and koa-session's own, whose names start with `_` (`_expire`, `_maxAge`, `_session`).
 */
export type KoaSession = Record<string, unknown>;

/**
 * koa-session's `maxAge`: milliseconds, or `'session'` for a cookie that ends with the browser
 * session (the store then keeps the session for the repository's `expires` option).
 */
export type KoaMaxAge = number | 'session';

/** What koa-session passes to `get` beside the key. */
export interface KoaGetOptions {
  /** koa-session's `rolling` option. */
  readonly rolling?: boolean | undefined;
  /** The request's koa context. */
  readonly ctx?: unknown;
}

/** What koa-session passes to `set` beside the key, the session and its `maxAge`. */
export interface KoaSetOptions extends KoaGetOptions {
  /** Whether koa-session found the session's fields changed since it was read. */
  readonly changed?: boolean | undefined;
}

/** What koa-session passes to `destroy` beside the key. */
export interface KoaDestroyOptions {
  /** The request's koa context. */
  readonly ctx?: unknown;
}

/** `koaStore({ repository })`: a repository of yours, which the store uses and never closes. */
export interface KoaStoreRepositoryOption {
  /** The repository every call goes to; `close()` leaves it open. */
  readonly repository: SessionRepository;
}

/**
 * `koaStore(options)` takes the repository's options (it then creates the repository, and closes
 * it on `close()`), or `{ repository }` alone.
 */
export type KoaStoreOptions =
  | (SessionRepositoryOptions & {
      /** Not with the repository's options: give `{ repository }` alone. */
      readonly repository?: undefined;
    })
  | KoaStoreRepositoryOption;

/** koa-session's external store (its `store` option), on MongoDB. */
export interface KoaStore {
  /** The repository every call goes to: for `listWhere`, `destroyWhere` and the rest. */
  readonly repository: SessionRepository;
  /** The session stored under `key`, or `null` when there is none, it has expired or it has ended. */
  get(
    key: string,
    maxAge?: KoaMaxAge | undefined,
    options?: KoaGetOptions | undefined,
  ): Promise<KoaSession | null>;
  /**
   * Stores the session until `maxAge` from now (the repository's `expires` for `'session'`).
   * When koa-session says nothing changed and the session is the one this request read, as it
   * was read, only its expiry moves (the repository's `touch`, which lazy touch may skip). A
   * session ended meanwhile (logged out from another request) is not stored again, and that is
   * no error: the repository refuses the write.
   */
  set(
    key: string,
    session: KoaSession,
    maxAge?: KoaMaxAge | undefined,
    options?: KoaSetOptions | undefined,
  ): Promise<void>;
  /** Ends the session for good (the repository's `destroy`). */
  destroy(key: string, options?: KoaDestroyOptions | undefined): Promise<void>;
  /** Closes the repository if `koaStore` created it; one given as `{ repository }` stays open. */
  close(): Promise<void>;
}

/**
 * koa-session's external store on MongoDB: `session({ store: koaStore(options) }, app)`.
 * @param options The repository's options, or `{ repository }` for a repository of yours.
 */
export function koaStore(options: KoaStoreOptions = {}): KoaStore {
  const { repository, ...repositoryOptions } = options;
  if (repository === undefined) {
    return new MongoKoaStore(new SessionRepository(repositoryOptions), true);
  }
  checkRepository(repository, Object.keys(repositoryOptions));
  return new MongoKoaStore(repository, false);
}

function checkRepository(repository: unknown, others: readonly string[]): void {
  const methods = ['get', 'set', 'touch', 'destroy', 'close'] as const;
  const candidate = repository as Record<string, unknown> | null;
  if (
    typeof candidate !== 'object' ||
    !methods.every((method) => typeof candidate?.[method] === 'function')
  ) {
    throw new TypeError(
      `Expected \`repository\` to be a SessionRepository, got ${candidate === null ? 'null' : typeof candidate}`,
    );
  }
  if (others.length > 0) {
    const named = others.map((name) => `\`${name}\``).join(', ');
    throw new TypeError(
      `Expected \`repository\` alone, or the repository's options without it, got \`repository\` with ${named}`,
    );
  }
}

/** What `get` gave a request: whether its later `set` may be a touch. */
interface Read {
  readonly key: string;
  readonly fields: string | undefined;
}

class MongoKoaStore implements KoaStore {
  readonly repository: SessionRepository;
  readonly #owned: boolean;
  /**
   * The session each request read, by koa context. koa-session's `changed` is also false for the
   * saves it forces (`save()`, `regenerate()`, a new `maxAge`), whose key or fields may be new;
   * only a session written back as it was read is a touch.
   */
  readonly #reads = new WeakMap<object, Read>();

  constructor(repository: SessionRepository, owned: boolean) {
    this.repository = repository;
    this.#owned = owned;
  }

  async get(key: string, _maxAge?: KoaMaxAge, options?: KoaGetOptions): Promise<KoaSession | null> {
    const stored = await this.repository.get(key);
    if (stored === null) return null;
    const session = fromStored(stored);
    const ctx = options?.ctx;
    if (typeof ctx === 'object' && ctx !== null) {
      this.#reads.set(ctx, { key, fields: comparable(session) });
    }
    return session;
  }

  async set(
    key: string,
    session: KoaSession,
    maxAge?: KoaMaxAge,
    options?: KoaSetOptions,
  ): Promise<void> {
    const stored = toStored(session, maxAge);
    // An ended session's write resolves as refused (`'refused'`, `false`): nothing to report here.
    if (options?.changed === false && this.#asRead(options.ctx, key, session)) {
      await this.repository.touch(key, stored);
    } else {
      await this.repository.set(key, stored);
    }
  }

  async destroy(key: string, _options?: KoaDestroyOptions): Promise<void> {
    await this.repository.destroy(key);
  }

  async close(): Promise<void> {
    if (this.#owned) await this.repository.close();
  }

  #asRead(ctx: unknown, key: string, session: KoaSession): boolean {
    const read = typeof ctx === 'object' && ctx !== null ? this.#reads.get(ctx) : undefined;
    if (read === undefined || read.key !== key || read.fields === undefined) return false;
    return read.fields === comparable(session);
  }
}

/** The session as stored: its fields, and a cookie with its expiry and koa-session's fields. */
function toStored(session: KoaSession, maxAge: KoaMaxAge | undefined): AnySession {
  const fields: KoaSession = {};
  const own: KoaSession = {};
  for (const [name, value] of Object.entries(session)) {
    if (name.startsWith('_')) own[name] = value;
    else fields[name] = value;
  }
  if (Object.hasOwn(fields, 'cookie')) {
    throw new InvalidSessionError(
      'Expected a koa session without a `cookie` field (the store keeps the expiry in `session.cookie`), got one',
    );
  }
  // `'session'` (a browser-session cookie): no expiry, so the repository's `expires` applies.
  const expires = typeof maxAge === 'number' ? new Date(Date.now() + maxAge) : null;
  return { ...fields, cookie: { expires, ...own } };
}

/** The stored session back in koa-session's form: koa-session's fields out of the cookie. */
function fromStored(stored: AnySession): KoaSession {
  const { cookie, ...fields } = stored;
  const own =
    typeof cookie === 'object' && cookie !== null
      ? Object.entries(cookie).filter(([name]) => name.startsWith('_'))
      : [];
  return { ...fields, ...Object.fromEntries(own) };
}

/**
 * What decides whether a session is written back as read: its fields and lifetime (`_maxAge`,
 * `_session`), in koa-session's own comparison (JSON); `_expire` moves on every save. A session
 * JSON cannot hold (a `BigInt`) compares as changed.
 */
function comparable(session: KoaSession): string | undefined {
  const { _expire: _moves, ...rest } = session;
  try {
    return JSON.stringify(rest);
  } catch {
    return undefined;
  }
}
