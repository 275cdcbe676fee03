export type { Callback } from './callbackify.js';
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
} from './errors.js';
export type { IndexState, IndexStatus } from './expiry-tasks.js';
export { default } from './factory.js';
export {
  type ConnectCallback,
  type ListenerMethod,
  type MongoDBSessionOptions,
  MongoDBStore,
  type MongoDBStoreConstructor,
  type MongoDBStoreOptions,
  type StoredSessionDocument,
  type Version5ConnectCallback,
} from './mongodb-store.js';
export type {
  AutoRemoveOption,
  ClientSource,
  ResolvedOptions,
  SerializerOption,
  SessionRepositoryOptions,
  SessionSerializer,
  StoreOptionsView,
} from './options.js';
export type { EncryptionKey, EncryptionOption, ResolvedEncryption } from './session-crypto.js';
export type {
  DestroyFilter,
  DeviceSelection,
  SessionFilter,
  SessionPredicate,
} from './session-filter.js';
export { hashSessionId, type TransformId } from './session-ids.js';
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
} from './session-repository.js';
export type { SessionModule } from './store-base.js';
export type { MongoDBStoreEvents } from './store-events.js';
