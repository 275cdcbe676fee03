import type { SessionData, Store } from 'express-session';
import type { Collection, Db, MongoClient } from 'mongodb';
import type { DestroyFilter, DeviceSelection } from '../codec/session-filter.js';
import type { SessionDocument, SessionListing } from '../codec/session-types.js';
import type { SessionStoreError } from '../errors/classes.js';
import { storeError } from '../errors/wrapping.js';
import type { AutoRemoveOption } from '../options/option-types.js';
import {
  optionsView,
  type SessionRepositoryOptions,
  type StoreOptionsView,
} from '../options/options.js';
import { SessionRepository } from '../repository/session-repository.js';
import { type Callback, callbackify } from './callbackify.js';
import { installedStoreBase, type StoreBase } from './store-base.js';
import { emitEvent, withEvents } from './store-events.js';
import type {
  ConnectCallback,
  ListenerMethod,
  StoredSessionDocument,
  Version5ConnectCallback,
} from './store-types.js';

/**
 * An express-session store backed by a `SessionRepository`; @fastify/session takes it too, with
 * or without express-session installed.
 */
export interface MongoDBStore extends Store {
  /** The promise-native repository every method delegates to. */
  readonly repository: SessionRepository<SessionData>;
  /** The options under version 5's names, defaults applied, frozen (`repository.options` has the resolved form). */
  readonly options: StoreOptionsView;
  /**
   * The MongoDB client: set at construction from `uri` or `client`. Typed as always there, as
   * version 5 declared it; with `clientPromise` it is `undefined` until the promise resolves.
   */
  readonly client: MongoClient;
  /** The database holding the sessions, once the client is known (at construction but for `clientPromise`). */
  readonly db: Db | undefined;
  /** The collection every operation uses, once the client is known (at construction but for `clientPromise`). */
  readonly collection: Collection<SessionDocument> | undefined;
  /**
   * Who deletes expired sessions now: the `autoRemove` asked for (`options.autoRemove`), or
   * `'interval'` where the server has no TTL indexes.
   */
  readonly autoRemoveInEffect: AutoRemoveOption;
  /** @deprecated `autoRemoveInEffect`: the mode in effect, which `options.autoRemove` (the mode asked for) is not. */
  readonly autoRemove: AutoRemoveOption;

  get(sid: string): Promise<SessionData | null>;
  get(sid: string, callback: Callback<SessionData | null>): void;
  /**
   * Stores the session. A session of @fastify/session's that it read and left unmodified (it
   * saves one on every request, `rolling` being its default) only has its expiry moved, as
   * express-session's `touch` would: lazy touch may skip the write, and the event is `touch`.
   */
  set(sid: string, session: SessionData): Promise<void>;
  set(sid: string, session: SessionData, callback: Callback<void>): void;
  touch(sid: string, session: SessionData): Promise<void>;
  touch(sid: string, session: SessionData, callback: Callback<void>): void;
  destroy(sid: string | string[]): Promise<void>;
  destroy(sid: string | string[], callback: Callback<void>): void;
  clear(): Promise<void>;
  clear(callback: Callback<void>): void;
  length(): Promise<number>;
  length(callback: Callback<number>): void;
  all(): Promise<StoredSessionDocument[]>;
  all(callback: Callback<StoredSessionDocument[]>): void;
  /** The ids of the unexpired sessions, as stored (transformed under `transformId`). */
  ids(): Promise<string[]>;
  /** `ids()`, for a callback. */
  ids(callback: Callback<string[]>): void;
  /**
   * Destroys the unexpired sessions that `filter` selects ("log out everywhere"), and gives how
   * many: a predicate `(session, id) => boolean | Promise<boolean>` run here over every session
   * (any stored form), or a filter over session fields sent to the server (`{ 'user.id': 42 }`;
   * a `TypeError` before anything is sent where the stored form cannot be queried, with a string
   * `serializer` or `encryption`). See `SessionRepository.destroyWhere` and
   * docs/logging-out-everywhere.md.
   */
  destroyWhere(filter: DestroyFilter<SessionData>): Promise<number>;
  /** `destroyWhere(filter)`, for a callback given the count. */
  destroyWhere(filter: DestroyFilter<SessionData>, callback: Callback<number>): void;
  /**
   * `destroyWhere(filter)` narrowed to devices by their `listWhere` handles: `{ only }` ends
   * those ("sign out this device"), `{ except: store.handleOf(req.sessionID) }` keeps the
   * current one ("sign out everywhere else").
   */
  destroyWhere(filter: DestroyFilter<SessionData>, selection: DeviceSelection): Promise<number>;
  /** `destroyWhere(filter, selection)`, for a callback given the count. */
  destroyWhere(
    filter: DestroyFilter<SessionData>,
    selection: DeviceSelection,
    callback: Callback<number>,
  ): void;
  /**
   * The unexpired sessions `filter` selects, each with its handle, creation, last activity and
   * expiry: a user's devices for an account page. See `SessionRepository.listWhere`.
   */
  listWhere(filter: DestroyFilter<SessionData>): Promise<Array<SessionListing<SessionData>>>;
  /** `listWhere(filter)`, for a callback. */
  listWhere(
    filter: DestroyFilter<SessionData>,
    callback: Callback<Array<SessionListing<SessionData>>>,
  ): void;
  /** The handle `listWhere` gives for session `sid` (`req.sessionID`: the current device's). */
  handleOf(sid: string): string;
  /** Lets running operations finish, then closes the client if the store created it. */
  close(): Promise<void>;
  /** `close()`, for a callback. */
  close(callback: Callback<void>): void;

  // The store's own events get their listeners' types (see `MongoDBStoreEvents`); other names
  // take any listener, as on any event emitter.
  on: ListenerMethod<this>;
  once: ListenerMethod<this>;
  addListener: ListenerMethod<this>;
  prependListener: ListenerMethod<this>;
  prependOnceListener: ListenerMethod<this>;
  off: ListenerMethod<this>;
  removeListener: ListenerMethod<this>;
}

/** The store class; as in version 5, it may be called with or without `new`. */
export interface MongoDBStoreConstructor {
  new (options?: SessionRepositoryOptions | null, callback?: ConnectCallback): MongoDBStore;
  new (
    options: SessionRepositoryOptions | null | undefined,
    callback: Version5ConnectCallback,
  ): MongoDBStore;
  new (callback: ConnectCallback): MongoDBStore;
  (options?: SessionRepositoryOptions | null, callback?: ConnectCallback): MongoDBStore;
  (
    options: SessionRepositoryOptions | null | undefined,
    callback: Version5ConnectCallback,
  ): MongoDBStore;
  /** The stores' prototype, for `instanceof`. */
  readonly prototype: MongoDBStore;
}

/** The instance interface, named apart so that the class below can be called `MongoDBStore` too. */
type StoreInstance = MongoDBStore;

const classes = new WeakMap<StoreBase, MongoDBStoreConstructor>();

/** The store class built on a session module's `Store` class; one class per base. */
export function defineMongoDBStore(Base: StoreBase): MongoDBStoreConstructor {
  const existing = classes.get(Base);
  if (existing !== undefined) return existing;

  class MongoDBStore extends withEvents(Base) implements StoreInstance {
    readonly repository: SessionRepository<SessionData>;
    readonly options: StoreOptionsView;

    constructor(
      options?: SessionRepositoryOptions | ConnectCallback | null,
      callback?: ConnectCallback,
    ) {
      super();
      const onReady = typeof options === 'function' ? options : callback;
      if (onReady !== undefined && typeof onReady !== 'function') {
        throw new TypeError(
          `Expected the constructor callback to be a function, got ${typeof onReady}`,
        );
      }
      const during = (operation: string) => ({
        operation,
        timeoutMs: this.repository.options.operationTimeoutMs,
      });
      this.repository = new SessionRepository<SessionData>(
        typeof options === 'function' ? {} : options,
        {
          connected: () => process.nextTick(() => this.#connected()),
          unreadable: (error) => process.nextTick(() => this.#report(error)),
          indexFailed: (error) => process.nextTick(() => this.#report(error)),
          sweepFailed: (error) =>
            process.nextTick(() => this.#report(storeError(error, during('deleteExpired')))),
          refused: (sid, operation) =>
            process.nextTick(() => emitEvent(this, 'refused', sid, operation)),
        },
      );
      this.options = optionsView(this.repository.options);
      this.repository.ready().then(
        () => process.nextTick(() => onReady?.()),
        (error: unknown) =>
          process.nextTick(() => this.#failed(storeError(error, during('ready')), onReady)),
      );
    }

    get client(): MongoClient {
      return this.repository.client as MongoClient;
    }

    get db(): Db | undefined {
      return this.repository.db;
    }

    get collection(): Collection<SessionDocument> | undefined {
      return this.repository.collection;
    }

    get autoRemoveInEffect(): AutoRemoveOption {
      return this.repository.autoRemoveInEffect;
    }

    get autoRemove(): AutoRemoveOption {
      return this.repository.autoRemoveInEffect;
    }

    get(sid: string): Promise<SessionData | null>;
    get(sid: string, callback: Callback<SessionData | null>): void;
    get(sid: string, callback?: Callback<SessionData | null>) {
      return callbackify(async () => {
        const session = await this.repository.get(sid);
        emitEvent(this, 'get', sid);
        return session;
      }, callback);
    }

    set(sid: string, session: SessionData): Promise<void>;
    set(sid: string, session: SessionData, callback: Callback<void>): void;
    set(sid: string, session: SessionData, callback?: Callback<void>) {
      return callbackify(async () => {
        if (readAndUnmodified(session)) return this.#touch(sid, session);
        const outcome = await this.repository.set(sid, session);
        // An ended session: the repository's `refused` listener has emitted `refused`.
        if (outcome === 'refused') return;
        // A session whose cookie had already expired is deleted rather than stored.
        if (outcome === 'deleted') {
          emitEvent(this, 'destroy', sid);
          return;
        }
        emitEvent(this, outcome === 'created' ? 'create' : 'update', sid);
        emitEvent(this, 'set', sid);
      }, callback);
    }

    override touch(sid: string, session: SessionData): Promise<void>;
    override touch(sid: string, session: SessionData, callback: Callback<void>): void;
    override touch(sid: string, session: SessionData, callback?: Callback<void>) {
      return callbackify(() => this.#touch(sid, session), callback);
    }

    async #touch(sid: string, session: SessionData): Promise<void> {
      if (await this.repository.touch(sid, session)) emitEvent(this, 'touch', sid, session);
    }

    destroy(sid: string | string[]): Promise<void>;
    destroy(sid: string | string[], callback: Callback<void>): void;
    destroy(sid: string | string[], callback?: Callback<void>) {
      return callbackify(async () => {
        await this.repository.destroy(sid);
        if (this.listenerCount('destroy') === 0) return;
        for (const each of Array.isArray(sid) ? sid : [sid]) emitEvent(this, 'destroy', each);
      }, callback);
    }

    override clear(): Promise<void>;
    override clear(callback: Callback<void>): void;
    override clear(callback?: Callback<void>) {
      return callbackify(() => this.repository.clear(), callback);
    }

    override length(): Promise<number>;
    override length(callback: Callback<number>): void;
    override length(callback?: Callback<number>) {
      return callbackify(() => this.repository.length(), callback);
    }

    override all(): Promise<StoredSessionDocument[]>;
    override all(callback: Callback<StoredSessionDocument[]>): void;
    override all(callback?: Callback<StoredSessionDocument[]>) {
      const { idField, expiresKey } = this.repository.options;
      const documents = async (): Promise<StoredSessionDocument[]> =>
        (await this.repository.all()).map(({ id, session, expires }) => ({
          [idField]: id,
          session,
          [expiresKey]: expires,
        }));
      return callbackify(documents, callback);
    }

    ids(): Promise<string[]>;
    ids(callback: Callback<string[]>): void;
    ids(callback?: Callback<string[]>) {
      return callbackify(() => this.repository.ids(), callback);
    }

    destroyWhere(filter: DestroyFilter<SessionData>): Promise<number>;
    destroyWhere(filter: DestroyFilter<SessionData>, callback: Callback<number>): void;
    destroyWhere(filter: DestroyFilter<SessionData>, selection: DeviceSelection): Promise<number>;
    destroyWhere(
      filter: DestroyFilter<SessionData>,
      selection: DeviceSelection,
      callback: Callback<number>,
    ): void;
    destroyWhere(
      filter: DestroyFilter<SessionData>,
      selectionOrCallback?: DeviceSelection | Callback<number>,
      callback?: Callback<number>,
    ) {
      const selection = typeof selectionOrCallback === 'function' ? undefined : selectionOrCallback;
      const done = typeof selectionOrCallback === 'function' ? selectionOrCallback : callback;
      return callbackify(() => this.repository.destroyWhere(filter, selection), done);
    }

    listWhere(filter: DestroyFilter<SessionData>): Promise<Array<SessionListing<SessionData>>>;
    listWhere(
      filter: DestroyFilter<SessionData>,
      callback: Callback<Array<SessionListing<SessionData>>>,
    ): void;
    listWhere(
      filter: DestroyFilter<SessionData>,
      callback?: Callback<Array<SessionListing<SessionData>>>,
    ) {
      return callbackify(() => this.repository.listWhere(filter), callback);
    }

    handleOf(sid: string): string {
      return this.repository.handleOf(sid);
    }

    close(): Promise<void>;
    close(callback: Callback<void>): void;
    close(callback?: Callback<void>) {
      return callbackify(() => this.repository.close(), callback);
    }

    /** On every successful connection attempt: the first, or a recovery after failed ones. */
    #connected(): void {
      if (this.repository.closed) return;
      emitEvent(this, 'connected');
      emitEvent(this, 'connect');
    }

    /**
     * Version 5 threw when nobody listened; a store that cannot reach its database must not take
     * the process down, so the failure becomes a process warning instead.
     */
    #failed(error: SessionStoreError, onReady: ConnectCallback | undefined): void {
      // Closed before it connected: the caller asked for it, so it is no news for listeners.
      if (this.repository.closed) {
        onReady?.(error);
        return;
      }
      if (onReady === undefined) {
        this.#report(error);
        return;
      }
      emitEvent(this, 'error', error);
      onReady(error);
    }

    /** An `error` event where someone listens; a process warning where nobody does. */
    #report(error: SessionStoreError): void {
      if (emitEvent(this, 'error', error)) return;
      process.emitWarning(`connect-mongodb-session: ${error.message}`, {
        code: 'SESSION_STORE_ERROR',
      });
    }
  }

  // Version 5's store was a plain function, so `MongoDBStore(options)` without `new` worked.
  const defined = new Proxy(MongoDBStore, {
    apply: (target, _this, args: unknown[]) => Reflect.construct(target, args),
  }) as unknown as MongoDBStoreConstructor;
  classes.set(Base, defined);
  return defined;
}

/**
 * The store class on the installed express-session's `Store`; where express-session cannot be
 * resolved, on an event emitter, for @fastify/session (see `installedStoreBase`).
 */
export const MongoDBStore: MongoDBStoreConstructor = defineMongoDBStore(installedStoreBase());

/**
 * Whether @fastify/session is saving a session it read from the store and did not modify: what
 * express-session would `touch`. @fastify/session saves on every request (`rolling`, its
 * default) and never calls `touch`; its sessions say whether their fields changed since they
 * were read (`isModified()`). It also saves new sessions unmodified (`saveUninitialized`, its
 * default, and `regenerate()`), which have to be stored: a new session holds no field but its
 * cookie until it is modified, so a session holding others was read. (A stored session holding
 * nothing but its cookie cannot be told from a new one, and is written on each save.)
 */
function readAndUnmodified(session: SessionData): boolean {
  if (typeof session !== 'object' || session === null) return false;
  const { isModified } = session as { isModified?: unknown };
  if (typeof isModified !== 'function' || isModified.call(session) !== false) return false;
  return Object.keys(session).some((key) => key !== 'cookie');
}
