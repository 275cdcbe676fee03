import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Store } from 'express-session';

/** express-session's `Store` class, or Connect 2's: the base a store class is built on. */
export type StoreBase = abstract new () => Store;

/** What version 5's factory accepted: express-session, or Connect 2 / Express 3 (`{ session: { Store } }`). */
export type SessionModule =
  | {
      /** express-session's `Store` class. */
      readonly Store: unknown;
    }
  | {
      /** Connect 2's session middleware. */
      readonly session: {
        /** Its `Store` class. */
        readonly Store: unknown;
      };
    };

/** The `Store` class of a session module, checked. */
export function storeBaseOf(sessionModule: SessionModule): StoreBase {
  const holder = sessionModule as
    | { Store?: unknown; session?: { Store?: unknown } }
    | null
    | undefined;
  const candidate = holder?.Store ?? holder?.session?.Store;
  if (typeof candidate !== 'function') {
    throw new TypeError(
      'Expected the session module (express-session, or Connect 2 / Express 3), with a `Store` or `session.Store` class',
    );
  }
  return candidate as StoreBase;
}

/**
 * express-session's `Store` where express-session can be resolved from this package; otherwise
 * an event emitter, which is all that @fastify/session (which takes express-session's stores but
 * does not need express-session) asks of a store's base. Only express-session itself missing
 * selects the stand-in: an installed express-session that fails to load is an error.
 */
export function installedStoreBase(): StoreBase {
  const fromHere = createRequire(import.meta.url);
  let path: string;
  try {
    path = fromHere.resolve('express-session');
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
    // Typed as express-session's `Store`: a store is used through the methods the store class
    // defines, and its instances are event emitters either way (see `StoreWithoutExpressSession`).
    return StoreWithoutExpressSession as unknown as StoreBase;
  }
  return storeBaseOf(fromHere(path) as SessionModule);
}

/**
 * The base where express-session cannot be resolved: an event emitter, as express-session's
 * `Store` is. Of the methods that `Store` adds for express-session's own use (`regenerate`,
 * `load`, `createSession`), which nothing calls where express-session is missing, only
 * `createSession` is here: should express-session be installed where this package cannot
 * resolve it, and use the store after all, the first stored session it loads fails with an error
 * that says what to do rather than with `store.createSession is not a function`.
 */
class StoreWithoutExpressSession extends EventEmitter {
  createSession(): never {
    throw new Error(
      "connect-mongodb-session could not resolve express-session, so its MongoDBStore is not an express-session Store: install express-session beside it, or build the store class on your express-session with `require('connect-mongodb-session')(session)`",
    );
  }
}
