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
 * express-session's `Store` when express-session is installed. Without it, a stand-in whose
 * constructor explains what to do, so that the package (and `SessionRepository`) still loads.
 */
export function installedStoreBase(): StoreBase {
  try {
    const required = createRequire(import.meta.url)('express-session') as SessionModule;
    return storeBaseOf(required);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
    return MissingExpressSession as unknown as StoreBase;
  }
}

class MissingExpressSession extends EventEmitter {
  constructor() {
    super();
    throw new Error(
      'MongoDBStore needs express-session: install it (npm install express-session), or pass your session module to the default export',
    );
  }
}
