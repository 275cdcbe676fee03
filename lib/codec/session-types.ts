/** The shapes sessions and their stored documents take, shared by the repository and the store. */
import type { Document } from 'mongodb';

/**
 * A session's cookie as express-session stores it (`Cookie#toJSON()`), or the `Cookie` itself:
 * the fields have the types of @types/express-session's `Cookie`, so that a cookie written by
 * hand type-checks and one read back has its fields typed. The repository reads only `expires`;
 * it stores the others and gives them back as they are. There is no `maxAge`: express-session
 * derives it from `expires` and does not store it, so a cookie written by hand gives `expires`.
 */
export interface CookieLike {
  /**
   * The cookie's `maxAge` when the session began, in milliseconds; `null` for a cookie without
   * one (a browser-session cookie).
   */
  originalMaxAge?: number | null | undefined;
  /**
   * When the session ends; without one (a browser-session cookie), now plus the `expires`
   * option. A `Date`, or its string or millisecond form (what a JSON serializer gives back).
   */
  expires?: Date | string | number | null | false | undefined;
  /** The cookie's `HttpOnly` attribute. */
  httpOnly?: boolean | undefined;
  /** The cookie's `Path` attribute. */
  path?: string | undefined;
  /** The cookie's `Domain` attribute. */
  domain?: string | undefined;
  /** The cookie's `Secure` attribute; `'auto'` follows the connection, as in express-session. */
  secure?: boolean | 'auto' | undefined;
  /** The cookie's `SameSite` attribute; `true` is `'strict'`, as in express-session. */
  sameSite?: boolean | 'lax' | 'strict' | 'none' | undefined;
  /** The cookie's `Priority` attribute. */
  priority?: 'low' | 'medium' | 'high' | undefined;
  /** The cookie's `Partitioned` attribute. */
  partitioned?: boolean | undefined;
  /** How the cookie is stored, as express-session's `Cookie` gives it. */
  toJSON?(): unknown;
}

/** What a session must look like: any object, with an optional express-session style cookie. */
export interface SessionLike {
  /** The session's cookie, whose expiry becomes the stored session's. */
  cookie?: CookieLike | undefined;
}

/**
 * A session of any shape: what a repository without a type argument takes and gives back, so
 * that `(await repository.get(sid))?.user` compiles. Give the repository your session's type
 * (`new SessionRepository<MySession>()`) to have its fields checked.
 */
export interface AnySession extends SessionLike {
  // biome-ignore lint/suspicious/noExplicitAny: an untyped repository stores whatever the application gives it; `unknown` would make every field read a cast.
  [field: string]: any;
}

/**
 * The stored document: `{ <idField>: sid, session, <expiresKey>: Date }`. The two field names are
 * options, hence the index signature; `session` is the session in its stored form (a document or
 * a string, depending on `serializer`; see the session codec).
 */
export type SessionDocument = Document & {
  /** The session in its stored form. */
  session: unknown;
};

/** One session as the iterator yields it. */
export interface StoredSession<T extends SessionLike> {
  /** The id as stored: the session id, or its transformed form under `transformId`. */
  readonly id: string;
  /** The session. */
  readonly session: T;
  /** When it expires. */
  readonly expires: Date;
}

/** One session as `listWhere` gives it: what an account page's list of devices shows. */
export interface SessionListing<T extends SessionLike> {
  /**
   * Names the session without being its cookie: `destroyWhere(filter, { only: handle })` ends
   * it, and `handleOf(req.sessionID)` gives the current session's. Safe to put in a page.
   */
  readonly handle: string;
  /** The session. */
  readonly session: T;
  /** When it was first stored; `null` for a session stored before this version kept the time. */
  readonly createdAt: Date | null;
  /**
   * When it was last written or touched; `null` as for `createdAt`. Lazy touch writes at most
   * once per `touchAfterMs`, so it may lag behind the last request by that much.
   */
  readonly lastActiveAt: Date | null;
  /** When it expires unless used again. */
  readonly expires: Date;
}
