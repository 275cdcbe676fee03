// The CommonJS entry: version 5's `module.exports` is the factory, so the factory is the module
// and the named exports hang off it. It loads the ES module build, so both entry points share
// one copy of every class (`instanceof` works across them).
import api = require('./index.js');

function connectMongoDBSession(sessionModule: api.SessionModule): api.MongoDBStoreConstructor {
  return api.default(sessionModule);
}

namespace connectMongoDBSession {
  export import MongoDBStore = api.MongoDBStore;
  export import SessionRepository = api.SessionRepository;
  export import SessionStoreError = api.SessionStoreError;
  export import ConnectionError = api.ConnectionError;
  export import QueueFullError = api.QueueFullError;
  export import StoreClosedError = api.StoreClosedError;
  export import OperationError = api.OperationError;
  export import IndexError = api.IndexError;
  export import InvalidSessionIdError = api.InvalidSessionIdError;
  export import InvalidSessionError = api.InvalidSessionError;
  export import OperationTimeoutError = api.OperationTimeoutError;
  export import UnreadableSessionError = api.UnreadableSessionError;
  export import SessionDecryptionError = api.SessionDecryptionError;
  export import hashSessionId = api.hashSessionId;
  export type Callback<T> = api.Callback<T>;
  export type ConnectCallback = api.ConnectCallback;
  export type MongoDBStoreConstructor = api.MongoDBStoreConstructor;
  export type MongoDBStoreOptions = api.MongoDBStoreOptions;
  export type ResolvedOptions = api.ResolvedOptions;
  export type SessionRepositoryOptions = api.SessionRepositoryOptions;
  export type SerializerOption = api.SerializerOption;
  export type AutoRemoveOption = api.AutoRemoveOption;
  export type IndexState = api.IndexState;
  export type IndexStatus = api.IndexStatus;
  export type SessionSerializer = api.SessionSerializer;
  export type RepositoryListeners = api.RepositoryListeners;
  export type StoredSessionDocument = api.StoredSessionDocument;
  export type StoreOptionsView = api.StoreOptionsView;
  export type MongoDBSessionOptions = api.MongoDBSessionOptions;
  export type Version5ConnectCallback = api.Version5ConnectCallback;
  export type CookieLike = api.CookieLike;
  export type SessionDocument = api.SessionDocument;
  export type SessionLike = api.SessionLike;
  export type StoredSession<T extends api.SessionLike> = api.StoredSession<T>;
  export type SessionModule = api.SessionModule;
  export type SessionStoreErrorCode = api.SessionStoreErrorCode;
  export type EncryptionKey = api.EncryptionKey;
  export type EncryptionOption = api.EncryptionOption;
  export type ResolvedEncryption = api.ResolvedEncryption;
  export type TransformId = api.TransformId;
  export type DestroyFilter<T> = api.DestroyFilter<T>;
  export type SessionFilter = api.SessionFilter;
  export type SessionPredicate<T> = api.SessionPredicate<T>;
}

export = connectMongoDBSession;
