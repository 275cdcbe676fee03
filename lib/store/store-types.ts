/**
 * The types around the express-session store (mongodb-store.ts): what `all()` yields, the
 * constructor's callbacks, the options' names, and the typed listener methods.
 */
import type { SessionData } from 'express-session';
import type { SessionRepositoryOptions } from '../options/options.js';
import type { MongoDBStoreEvents } from './store-events.js';

/** A session as `all()` yields it: version 5's stored document, `{ <idField>: sid, session, <expiresKey>: Date }`. */
export type StoredSessionDocument = {
  [field: string]: unknown;
  /** The session. */
  session: SessionData;
};

/**
 * Options of `MongoDBStore`: those of `SessionRepository`, which the store passes on.
 * @deprecated `SessionRepositoryOptions`, the one name of the options the store, the repository
 * and the Koa store take; this name stays an alias of it.
 */
export type MongoDBStoreOptions = SessionRepositoryOptions;

/**
 * Version 5's name for the options (`@types/connect-mongodb-session`).
 * @deprecated `SessionRepositoryOptions`; this name stays an alias of it, so version 5 code compiles.
 */
export type MongoDBSessionOptions = SessionRepositoryOptions;

/** Called once: with nothing when connected, with the error otherwise (indexes: see `repository.whenIndexed()`). */
export type ConnectCallback = (error?: Error) => void;

/** The constructor callback as version 5's types (`@types/connect-mongodb-session`) declared it. */
export type Version5ConnectCallback = (error: Error) => void;

/** `on`, `once`, `off` and the like: typed listeners for the store's events, any listener for others. */
export interface ListenerMethod<This> {
  <E extends keyof MongoDBStoreEvents>(
    event: E,
    listener: (...args: MongoDBStoreEvents[E]) => void,
  ): This;
  <E extends string | symbol>(
    event: E extends keyof MongoDBStoreEvents ? never : E,
    // biome-ignore lint/suspicious/noExplicitAny: as on any event emitter, a listener of another event may take anything.
    listener: (...args: any[]) => void,
  ): This;
}
