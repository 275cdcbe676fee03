import { defineMongoDBStore, type MongoDBStoreConstructor } from './mongodb-store.js';
import { type SessionModule, storeBaseOf } from './store-base.js';

/**
 * Version 5's entry point: `require('connect-mongodb-session')(session)` returns the store class
 * built on that module's `Store`. Accepts express-session and Connect 2 / Express 3 (`{ session: { Store } }`).
 */
export default function connectMongoDBSession(
  sessionModule: SessionModule,
): MongoDBStoreConstructor {
  return defineMongoDBStore(storeBaseOf(sessionModule));
}
