import { EventEmitter } from 'node:events';
import type { SessionData } from 'express-session';
import type { SessionStoreError } from './errors.js';
import type { StoreBase } from './store-base.js';

/**
 * The events a `MongoDBStore` emits, with the arguments its listeners get. The per-operation
 * events come after the operation succeeded, never after a failure, and have connect-mongo's
 * names and arguments.
 */
export interface MongoDBStoreEvents {
  /** Connected: the first time, or again after failed attempts. */
  connected: [];
  /** The same moment as `connected`, under the name express-session listens for. */
  connect: [];
  /**
   * A failure no caller was waiting for: connecting without a constructor callback, an index the
   * store cannot create, a timed sweep, a stored session it cannot read. Without a listener it
   * becomes a process warning instead.
   */
  error: [error: SessionStoreError];
  /** `get` answered (with a session or with `null`). */
  get: [sid: string];
  /** `set` stored a session that was not stored before. */
  create: [sid: string];
  /** `set` replaced a stored session. */
  update: [sid: string];
  /** `set` stored the session (after `create` or `update`). */
  set: [sid: string];
  /** `touch` moved a stored session's expiry; not when lazy touch sent nothing, or no session was there. */
  touch: [sid: string, session: SessionData];
  /** A session was deleted: by `destroy` (once per id given), or by `set` of an already expired cookie. */
  destroy: [sid: string];
  /**
   * A `set` or `touch` wrote nothing, and called back without an error, because the session had
   * ended since its request read it: logged out, regenerated at login, revoked by `destroyWhere`,
   * or past `absoluteTimeoutMs`. The request still running when its session ended, kept from
   * storing it again.
   */
  refused: [sid: string, operation: 'set' | 'touch'];
}

const EMITTER_METHODS = ['on', 'once', 'off', 'emit', 'listenerCount'] as const;

/**
 * `Base` itself when its instances are event emitters (express-session's `Store` is one);
 * otherwise a subclass of it that is one too. Version 5 accepted any connect-style `Store` and
 * kept an emitter of its own; here the one emitter is the store itself, so `on`, `emit` and
 * `listenerCount` always agree.
 */
export function withEvents(Base: StoreBase): StoreBase {
  const prototype = Base.prototype as unknown as Record<string, unknown>;
  if (EMITTER_METHODS.every((name) => typeof prototype[name] === 'function')) return Base;

  abstract class EmittingStore extends Base {
    constructor() {
      super();
      EventEmitter.call(this as unknown as EventEmitter);
    }
  }
  for (const name of Object.getOwnPropertyNames(EventEmitter.prototype)) {
    if (name === 'constructor') continue;
    const descriptor = Object.getOwnPropertyDescriptor(EventEmitter.prototype, name);
    if (descriptor !== undefined) Object.defineProperty(EmittingStore.prototype, name, descriptor);
  }
  return EmittingStore;
}
