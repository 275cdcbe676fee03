export type {
  DestroyFilter,
  DeviceSelection,
  SessionFilter,
  SessionPredicate,
} from './codec/session-filter.js';
export { hashSessionId } from './codec/session-ids.js';
export type {
  AnySession,
  CookieLike,
  SessionDocument,
  SessionLike,
  SessionListing,
  StoredSession,
} from './codec/session-types.js';
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
} from './errors/classes.js';
export type { IndexState, IndexStatus } from './expiry/expiry-tasks.js';
export type {
  EncryptionKey,
  EncryptionOption,
  ResolvedEncryption,
} from './options/encryption-option.js';
export type {
  AutoRemoveOption,
  ClientSource,
  SerializerOption,
  SessionSerializer,
  TransformId,
} from './options/option-types.js';
export type {
  ResolvedOptions,
  SessionRepositoryOptions,
  StoreOptionsView,
} from './options/options.js';
export type {
  RefusedOperation,
  RepositoryListeners,
  SetOutcome,
} from './repository/repository-types.js';
export { SessionRepository } from './repository/session-repository.js';
export type { Callback } from './store/callbackify.js';
export { default } from './store/factory.js';
export { MongoDBStore, type MongoDBStoreConstructor } from './store/mongodb-store.js';
export type { SessionModule } from './store/store-base.js';
export type { MongoDBStoreEvents } from './store/store-events.js';
export type {
  ConnectCallback,
  ListenerMethod,
  MongoDBSessionOptions,
  MongoDBStoreOptions,
  StoredSessionDocument,
  Version5ConnectCallback,
} from './store/store-types.js';
