/**
 * The CommonJS entry, built to dist/index.cjs only. As in version 5, `module.exports` is the
 * factory and the named exports hang off it: the bundler turns this file's single default export
 * into `module.exports`, and into `export =` in dist/index.d.cts. It mirrors lib/index.ts, the ES
 * module entry; spec/package.spec.ts checks that both builds export the same names.
 */
import * as api from './index.js';
import {
  type AnySession,
  type AutoRemoveOption,
  type Callback,
  type ClientSource,
  type ConnectCallback,
  ConnectionError,
  type CookieLike,
  type DestroyFilter,
  type DeviceSelection,
  type EncryptionKey,
  type EncryptionOption,
  hashSessionId,
  IndexError,
  type IndexState,
  type IndexStatus,
  InvalidSessionError,
  InvalidSessionIdError,
  type ListenerMethod,
  type MongoDBSessionOptions,
  MongoDBStore,
  type MongoDBStoreConstructor,
  type MongoDBStoreEvents,
  type MongoDBStoreOptions,
  OperationError,
  OperationTimeoutError,
  OverloadedError,
  QueueFullError,
  type RefusedOperation,
  type RepositoryListeners,
  type ResolvedEncryption,
  type ResolvedOptions,
  type SerializerOption,
  SessionDecryptionError,
  type SessionDocument,
  type SessionFilter,
  type SessionLike,
  type SessionListing,
  type SessionModule,
  type SessionPredicate,
  SessionRepository,
  type SessionRepositoryOptions,
  type SessionSerializer,
  SessionStoreError,
  type SessionStoreErrorCode,
  type SetOutcome,
  StoreClosedError,
  type StoredSession,
  type StoredSessionDocument,
  type StoreOptionsView,
  type TransformId,
  UnreadableSessionError,
  type Version5ConnectCallback,
} from './index.js';

/**
 * Version 5's entry point: `require('connect-mongodb-session')(session)` returns the store class
 * built on that module's `Store`. Accepts express-session and Connect 2 / Express 3 (`{ session: { Store } }`).
 */
function connectMongoDBSession(sessionModule: SessionModule): MongoDBStoreConstructor {
  return api.default(sessionModule);
}

// Every named export of the ES module entry, so that the two lists cannot drift apart at run time.
const { default: _factory, ...named } = api;
Object.assign(connectMongoDBSession, named);

// The same names for the type checker; the package spec compares them with the ES module entry's.
declare namespace connectMongoDBSession {
  export {
    type AnySession,
    type AutoRemoveOption,
    type Callback,
    type ClientSource,
    type ConnectCallback,
    ConnectionError,
    type CookieLike,
    type DestroyFilter,
    type DeviceSelection,
    type EncryptionKey,
    type EncryptionOption,
    hashSessionId,
    IndexError,
    type IndexState,
    type IndexStatus,
    InvalidSessionError,
    InvalidSessionIdError,
    type ListenerMethod,
    type MongoDBSessionOptions,
    MongoDBStore,
    type MongoDBStoreConstructor,
    type MongoDBStoreEvents,
    type MongoDBStoreOptions,
    OperationError,
    OperationTimeoutError,
    OverloadedError,
    QueueFullError,
    type RefusedOperation,
    type RepositoryListeners,
    type ResolvedEncryption,
    type ResolvedOptions,
    type SerializerOption,
    SessionDecryptionError,
    type SessionDocument,
    type SessionFilter,
    type SessionLike,
    type SessionListing,
    type SessionModule,
    type SessionPredicate,
    SessionRepository,
    type SessionRepositoryOptions,
    type SessionSerializer,
    SessionStoreError,
    type SessionStoreErrorCode,
    type SetOutcome,
    StoreClosedError,
    type StoredSession,
    type StoredSessionDocument,
    type StoreOptionsView,
    type TransformId,
    UnreadableSessionError,
    type Version5ConnectCallback,
  };
}

export default connectMongoDBSession;
