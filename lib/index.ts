export type {
  DestroyFilter,
  DeviceSelection,
  SessionFilter,
  SessionPredicate,
} from './codec/session-filter.js';
export { hashSessionId } from './codec/session-ids.js';
export {
  ConnectionError,
  IndexError,
  InvalidSessionError,
  InvalidSessionIdError,
  OperationError,
  OperationTimeoutError,
  OverloadedError,
  QueueFullError,
  SessionDecryptionError,
  SessionStoreError,
  type SessionStoreErrorCode,
  StoreClosedError,
  UnreadableSessionError,
} from './errors/errors.js';
export type { IndexState, IndexStatus } from './expiry/expiry-tasks.js';
export type {
  EncryptionKey,
  EncryptionOption,
  ResolvedEncryption,
} from './options/encryption-option.js';
export type { TransformId } from './options/option-types.js';
export type {
  AutoRemoveOption,
  ClientSource,
  ResolvedOptions,
  SerializerOption,
  SessionRepositoryOptions,
  SessionSerializer,
  StoreOptionsView,
} from './options/options.js';
export {
  type AnySession,
  type CookieLike,
  type RefusedOperation,
  type RepositoryListeners,
  type SessionDocument,
  type SessionLike,
  type SessionListing,
  SessionRepository,
  type SetOutcome,
  type StoredSession,
} from './repository/session-repository.js';
export type { Callback } from './store/callbackify.js';
export { default } from './store/factory.js';
export {
  type ConnectCallback,
  type ListenerMethod,
  type MongoDBSessionOptions,
  MongoDBStore,
  type MongoDBStoreConstructor,
  type MongoDBStoreOptions,
  type StoredSessionDocument,
  type Version5ConnectCallback,
} from './store/mongodb-store.js';
export type { SessionModule } from './store/store-base.js';
export type { MongoDBStoreEvents } from './store/store-events.js';
