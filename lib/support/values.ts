/**
 * What every layer needs to know of a value without reading its content: its kind for a message,
 * whether it is a plain object, and how to set a key of it safely. Imports nothing of the store's.
 */
import { types } from 'node:util';

/** Every value of the bson package (5 and later) answers this symbol with its major version. */
const BSON_VERSION = Symbol.for('@@mdb.bson.version');

/** Whether `value` is one of the driver's BSON classes (`ObjectId`, `Long`, `Binary` …). */
export function isBsonValue(value: object): value is { _bsontype: string } {
  return (
    typeof (value as { _bsontype?: unknown })._bsontype === 'string' &&
    typeof Reflect.get(value, BSON_VERSION) === 'number'
  );
}

/**
 * Names a value by its kind, never by its contents (a refused value may be a password, a
 * connection string or a session): `null`, `undefined`, `a string of length 7`, `an array of 2`,
 * `a Date`, `a BSON ObjectId`, `an object`, `a number` …
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `a string of length ${value.length}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return specialKind(value) ?? 'an object';
  return `a ${typeof value}`;
}

/**
 * Objects that are neither plain objects nor arrays, named by kind (the driver would write a
 * `Set` as `{}`, a `Float32Array` as an object of indexes, a `Map` by its keys); undefined for
 * the others.
 */
export function specialKind(value: object): string | undefined {
  if (types.isMap(value)) return 'a Map';
  if (types.isSet(value)) return 'a Set';
  if (types.isWeakMap(value)) return 'a WeakMap';
  if (types.isWeakSet(value)) return 'a WeakSet';
  if (value instanceof WeakRef) return 'a WeakRef';
  if (types.isPromise(value)) return 'a Promise';
  if (types.isBoxedPrimitive(value)) return 'a boxed primitive';
  if (types.isAnyArrayBuffer(value)) return 'an ArrayBuffer';
  if (types.isDataView(value)) return 'a DataView';
  if (types.isTypedArray(value) && !types.isUint8Array(value)) {
    return `a ${String((value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag])}`;
  }
  if (types.isDate(value)) return 'a Date';
  if (types.isUint8Array(value)) return Buffer.isBuffer(value) ? 'a Buffer' : 'a Uint8Array';
  if (types.isRegExp(value)) return 'a RegExp';
  if (isBsonValue(value)) return `a BSON ${value._bsontype}`;
  return undefined;
}

/** Whether `value` is a plain object (its prototype `Object.prototype` or none): what the driver reads a document as. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Sets an own, enumerable property. Only `__proto__` has a setter on `Object.prototype`
 * (assigning it would change the prototype), so only it goes through the slower `defineProperty`.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/** What `run` gives, or `undefined` where it throws (a getter of the application's, say). */
export function safely<T>(run: () => T): T | undefined {
  try {
    return run();
  } catch {
    return undefined;
  }
}

/**
 * Whether `text` is well-formed UTF-16, without a lone surrogate. BSON stores strings as UTF-8,
 * where a lone surrogate becomes U+FFFD: `'a\uD800'` would be stored, and read back, as
 * `'a\uFFFD'`. `String.prototype.isWellFormed` is in Node 20 but not in the ES2023 library the
 * package compiles against (which keeps later APIs out of the code), hence the cast.
 */
export function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}
