/** The shapes sessions and their stored documents take, shared by the repository and the store. */
import type { Document } from 'mongodb';

/** The part of a session cookie the repository reads: its expiry. */
export interface CookieLike {
  /** When the session ends; without one (a browser-session cookie), now plus the `expires` option. */
  expires?: Date | string | number | null | false | undefined;
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
