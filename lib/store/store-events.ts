import { EventEmitter } from 'node:events';
import type { SessionData } from 'express-session';
import type { SessionStoreError } from '../errors/classes.js';
import { errorName } from '../errors/redaction.js';
import { LISTENER_ERROR_WARNING_CODE, warnOnce } from '../errors/warnings.js';
import { safely } from '../support/values.js';
import type { StoreBase } from './store-base.js';

/**
 * The events a `MongoDBStore` emits, with the arguments its listeners get. The per-operation
 * events come after the operation succeeded, never after a failure, and have connect-mongo's
 * names and arguments. A listener that throws, or returns a promise that rejects, changes
 * nothing: the operation resolves (or calls back) as it would have, the other listeners still
 * run, and the error becomes a process warning with code `SESSION_STORE_LISTENER_ERROR` (see
 * `emitEvent`).
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

/** What `emitEvent` needs of a store: its listeners, as an `EventEmitter` keeps them. */
export type ListenerSource = Pick<EventEmitter, 'rawListeners'>;

/**
 * Calls every listener of `event` with `args`, as `emit` does, but apart: a listener that throws,
 * or returns a promise that rejects, neither stops the others nor reaches the caller, so that no
 * listener can change what an operation resolves or calls back, call a callback twice or take the
 * process down. Its error becomes a process warning (`SESSION_STORE_LISTENER_ERROR`, see
 * `warnListenerError`). Returns whether `event` had listeners, as `emit` does.
 *
 * The listeners are called rather than `emit`, since `emit` stops at the first that throws and
 * leaves an async listener's rejection unhandled. `once` listeners come as `rawListeners` gives
 * them, wrapped, and calling the wrapper removes them as `emit` would.
 */
export function emitEvent<E extends keyof MongoDBStoreEvents>(
  store: ListenerSource,
  event: E,
  ...args: MongoDBStoreEvents[E]
): boolean {
  const listeners = store.rawListeners(event);
  for (const listener of listeners) {
    try {
      const returned: unknown = Reflect.apply(listener, store, args);
      if (isThenable(returned)) {
        returned.then(undefined, (error: unknown) =>
          warnListenerError(event, listener, error, 'rejected'),
        );
      }
    } catch (error) {
      warnListenerError(event, listener, error, 'threw');
    }
  }
  return listeners.length > 0;
}

/**
 * The warning for a listener's error: the event, the listener's function name and the error's
 * class, never its message, which may quote the session id or, from a `touch` listener, the
 * session. Once per process for each event, name and class, so that a listener failing on every
 * request does not flood the log. The error itself is the warning's `listenerError`, unprinted,
 * for an application's `process.on('warning')` handler.
 */
function warnListenerError(
  event: string,
  listener: unknown,
  error: unknown,
  how: 'threw' | 'rejected',
): void {
  const name = functionName((listener as { listener?: unknown }).listener ?? listener);
  const which = name === undefined ? 'a listener' : `a listener (\`${name}\`)`;
  const what =
    how === 'threw'
      ? `threw ${describeThrown(error)}`
      : `returned a promise that rejected with ${describeThrown(error)}`;
  warnOnce(
    `connect-mongodb-session: ${which} of the \`${event}\` event ${what}; the store went on as if it had not, and the operation's outcome is unchanged. Catch errors in the listener (the error is this warning's \`listenerError\`); this warning shows once.`,
    LISTENER_ERROR_WARNING_CODE,
    'Warning',
    { listenerError: error },
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** A function's name where it is an identifier: names are the application's code, not its data. */
function functionName(listener: unknown): string | undefined {
  const name = typeof listener === 'function' ? safely(() => listener.name) : undefined;
  return typeof name === 'string' && /^[\w$]{1,64}$/.test(name) ? name : undefined;
}

/** An error by its class name only (`a TypeError`); anything else thrown by its type (`a string`). */
function describeThrown(error: unknown): string {
  if (error instanceof Error) return withArticle(errorName(error));
  if (error === null || error === undefined) return String(error);
  return withArticle(typeof error);
}

function withArticle(noun: string): string {
  return `${/^[aeiou]/i.test(noun) ? 'an' : 'a'} ${noun}`;
}
