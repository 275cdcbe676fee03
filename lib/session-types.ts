/** The shapes sessions and their stored documents take, shared by the repository and the store. */
import type { Document } from 'mongodb';

/** The part of a session cookie the repository reads: its expiry. */
export interface CookieLike {
  expires?: Date | string | number | null | false | undefined;
  toJSON?(): unknown;
}

/** What a session must look like: any object, with an optional express-session style cookie. */
export interface SessionLike {
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
export type SessionDocument = Document & { session: unknown };

/** One session as the iterator yields it. */
export interface StoredSession<T extends SessionLike> {
  readonly id: string;
  readonly session: T;
  readonly expires: Date;
}
