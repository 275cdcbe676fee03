import { EventEmitter } from 'node:events';
import type { StoreBase } from './store-base.js';

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
