export type { Callback } from './callbackify.js';
export {
  ConnectionError,
  IndexError,
  InvalidSessionIdError,
  OperationError,
  QueueFullError,
  SessionStoreError,
  type SessionStoreErrorCode,
  StoreClosedError,
} from './errors.js';
export { default } from './factory.js';
export {
  type ConnectCallback,
  MongoDBStore,
  type MongoDBStoreConstructor,
  type MongoDBStoreOptions,
} from './mongodb-store.js';
export type { ResolvedOptions, SessionRepositoryOptions } from './options.js';
export {
  type CookieLike,
  type SessionDocument,
  type SessionLike,
  SessionRepository,
  type StoredSession,
} from './session-repository.js';
export type { SessionModule } from './store-base.js';
