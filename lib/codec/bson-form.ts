/**
 * The document form: how a session becomes the BSON `session` field and back. The walk checks
 * every value before anything is sent (naming what it refuses by kind, never by content),
 * escapes the keys some backend would refuse, estimates the document's size on the way and
 * copies only what had to change.
 */
import { types } from 'node:util';
import { InvalidSessionError } from '../errors/classes.js';
import { withheld } from '../errors/redaction.js';
import {
  isBsonValue,
  isPlainObject,
  isWellFormed,
  setOwn,
  specialKind,
} from '../support/values.js';

/** MongoDB's largest document, in bytes (16 MiB). */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
/** MongoDB's deepest document: the document is level 1, `session` level 2, each object or array one more. */
export const MAX_DOCUMENT_LEVELS = 100;

const MIN_INT64 = -(2n ** 63n);
const MAX_INT64 = 2n ** 63n - 1n;
/** Driver values whose BSON size is fixed; any other keeps the size estimate from being an upper bound. */
const FIXED_BSON_BYTES: Readonly<Record<string, number>> = {
  ObjectId: 12,
  Long: 8,
  Timestamp: 8,
  Double: 8,
  Int32: 4,
  Decimal128: 16,
  MinKey: 0,
  MaxKey: 0,
};
/** The flags the driver keeps: it writes `g` as BSON's `s` and reads that back as `g`; `s`, `u`, `y`, `d`, `v` are lost. */
const KEPT_REGEXP_FLAGS = /^[gim]*$/;
/** Marks an object property the store drops, as JSON and the driver do (`undefined`, functions). */
export const DROP = Symbol('drop');

/** How messages name a string BSON cannot keep, never quoting it. */
export const NOT_WELL_FORMED =
  'that is not well-formed UTF-16 (a lone surrogate, which BSON would store as U+FFFD)';

/** Turns a key into one every backend stores, injectively: see docs/serialization.md. */
export function escapeKey(key: string): string {
  return NEEDS_ESCAPE.test(key) ? key.replace(ESCAPED, (found) => ESCAPES[found] ?? found) : key;
}

/** Reverses `escapeKey` exactly; any other `%` is left as it is. */
export function unescapeKey(key: string): string {
  return key.includes('%') ? key.replace(UNESCAPED, (found) => UNESCAPES[found] ?? found) : key;
}

// `_bsontype` is escaped too: the driver takes any object holding one for a value of its own
// and refuses to write it.
const NEEDS_ESCAPE = /[%.\0]|^\$|^_bsontype$/;
const ESCAPED = /[%.\0]|^\$|^_bsontype$/g;
const UNESCAPED = /%(?:25|2E|00)|^%24|^%5Fbsontype$/g;
const ESCAPES: Readonly<Record<string, string>> = {
  '%': '%25',
  '.': '%2E',
  '\0': '%00',
  $: '%24',
  _bsontype: '%5Fbsontype',
};
const UNESCAPES: Readonly<Record<string, string>> = {
  '%25': '%',
  '%2E': '.',
  '%00': '\0',
  '%24': '$',
  '%5Fbsontype': '_bsontype',
};

export interface SessionFields {
  cookie?: unknown;
  [key: string]: unknown;
}

export interface WalkState {
  /** An upper bound of the BSON bytes written so far, while `exact` is false. */
  bytes: number;
  /** A value of unknown size was met: only an exact count can tell whether the document fits. */
  exact: boolean;
  /** The objects on the path to the current value, to tell a cycle from a shared reference. */
  ancestors: object[];
}

function refuse(problem: string, depth: number): never {
  throw new InvalidSessionError(`The session cannot be stored: ${problem} at depth ${depth}`);
}

/** One value as stored; the value itself unless something in it had to change. */
export function storedValue(value: unknown, depth: number, state: WalkState): unknown {
  switch (typeof value) {
    case 'string':
      if (!isWellFormed(value)) refuse(`a string ${NOT_WELL_FORMED}`, depth);
      state.bytes += 5 + 3 * value.length;
      return value;
    case 'boolean':
      state.bytes += 1;
      return value;
    case 'number':
      // FerretDB refuses infinities and drops the connection on NaN; JSON cannot hold them either.
      if (Number.isNaN(value)) refuse('NaN', depth);
      if (!Number.isFinite(value)) refuse('an infinite number', depth);
      state.bytes += 8;
      return value;
    case 'bigint':
      // The driver writes the low 64 bits of a larger BigInt: 2n ** 70n would be stored as 0.
      if (value < MIN_INT64 || value > MAX_INT64) refuse('a BigInt beyond 64 bits', depth);
      state.bytes += 8;
      return value;
    case 'undefined':
    case 'function':
      return DROP;
    case 'symbol':
      return refuse('a symbol', depth);
    default:
      return value === null ? null : storedObject(value as object, depth, state, true);
  }
}

function storedObject(value: object, depth: number, state: WalkState, toBSON: boolean): unknown {
  const convert = (value as { toBSON?: unknown }).toBSON;
  if (toBSON && typeof convert === 'function') {
    // The driver would call it; called here once, so that its result is checked like the rest.
    const converted = called(
      () => convert.call(value),
      `a toBSON() method threw at depth ${depth}`,
    );
    return typeof converted === 'object' && converted !== null
      ? storedObject(converted, depth, state, false)
      : storedValue(converted, depth, state);
  }
  if (Array.isArray(value)) return storedArray(value, depth, state);
  // Most values are plain objects, which none of the kinds below can be.
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null) {
    return storedRecord(value as SessionFields, depth, state, undefined);
  }
  if (isBsonValue(value)) {
    const fixed = FIXED_BSON_BYTES[value._bsontype];
    if (fixed !== undefined) {
      state.bytes += fixed;
      return value;
    }
    state.exact = true;
    if (!bsonStringsWellFormed(value, [])) {
      refuse(`a BSON ${value._bsontype} with a string ${NOT_WELL_FORMED}`, depth);
    }
    return value;
  }
  if (types.isDate(value)) {
    if (Number.isNaN(value.getTime())) refuse('an invalid Date', depth);
    state.bytes += 8;
    return value;
  }
  if (types.isUint8Array(value)) {
    state.bytes += 5 + value.byteLength;
    return value;
  }
  if (types.isRegExp(value)) {
    if (!KEPT_REGEXP_FLAGS.test(value.flags))
      refuse('a RegExp with flags other than g, i, m', depth);
    if (!isWellFormed(value.source)) refuse(`a RegExp with a source ${NOT_WELL_FORMED}`, depth);
    state.bytes += 2 + 3 * value.source.length + 3;
    return value;
  }
  const special = specialKind(value);
  if (special !== undefined) refuse(special, depth);
  return storedRecord(value as SessionFields, depth, state, undefined);
}

/** Objects and arrays add a level each; the session itself (depth 0) is level 2. */
function enter(value: object, depth: number, state: WalkState): void {
  if (state.ancestors.includes(value)) refuse('a circular reference', depth);
  if (depth + 2 > MAX_DOCUMENT_LEVELS) {
    refuse(`nesting deeper than the ${MAX_DOCUMENT_LEVELS} levels of a MongoDB document`, depth);
  }
  state.ancestors.push(value);
  state.bytes += 5;
}

/**
 * An object's own enumerable string keys, as the driver writes them. Copied only when a key
 * needs escaping or a value changes, and then shallowly: the common session is not copied.
 */
export function storedRecord(
  record: SessionFields,
  depth: number,
  state: WalkState,
  cookie: object | null | undefined,
): unknown {
  enter(record, depth, state);
  const keys = Object.keys(record);
  // The driver takes an object whose `_bsontype` or `toBSON` it can see for one of its own
  // values; a plain copy has neither.
  let copy: SessionFields | undefined =
    record._bsontype != null || typeof record.toBSON === 'function' ? {} : undefined;
  for (let index = 0; index < keys.length; index += 1) {
    const key = keys[index] as string;
    // Two keys that differ only in their lone surrogates would even become one, which the
    // server refuses as a duplicate field.
    if (!isWellFormed(key)) refuse(`a key ${NOT_WELL_FORMED}`, depth + 1);
    const original = depth === 0 && key === 'cookie' && cookie !== undefined ? cookie : record[key];
    const stored = storedValue(original, depth + 1, state);
    const storedKey = escapeKey(key);
    if (copy === undefined && (stored !== record[key] || storedKey !== key)) {
      copy = {};
      for (const earlier of keys.slice(0, index)) setOwn(copy, earlier, record[earlier]);
    }
    if (stored === DROP) continue;
    state.bytes += 2 + 3 * storedKey.length;
    if (copy !== undefined) setOwn(copy, storedKey, stored);
  }
  state.ancestors.pop();
  return copy ?? record;
}

function storedArray(array: unknown[], depth: number, state: WalkState): unknown[] {
  // Each element takes at least 3 bytes (type, key, NUL): a longer array cannot fit at all.
  if (array.length > MAX_DOCUMENT_BYTES / 3) refuse('an array too long for a document', depth);
  enter(array, depth, state);
  let copy: unknown[] | undefined =
    (array as { _bsontype?: unknown })._bsontype == null ? undefined : [];
  for (let index = 0; index < array.length; index += 1) {
    const original = array[index];
    const stored = storedValue(original, depth + 1, state);
    // The driver writes `undefined` in an array as null and skips a function, which leaves a
    // gap in the indexes (FerretDB then drops the connection); both become null, as in JSON.
    const element = stored === DROP ? null : stored;
    if (copy === undefined && element !== original) copy = array.slice(0, index);
    copy?.push(element);
    state.bytes += 2 + (index < 10 ? 1 : index < 100 ? 2 : 9);
  }
  state.ancestors.pop();
  return copy ?? array;
}

/**
 * Whether the strings the driver writes from one of its values of no fixed size (the source of
 * a `Code`, a `BSONSymbol`, a `BSONRegExp`, a `DBRef`'s names, and the keys and strings of a
 * `Code` scope or `DBRef` fields, which it writes as they are) are all well-formed.
 */
function bsonStringsWellFormed(value: unknown, ancestors: object[]): boolean {
  if (typeof value === 'string') return isWellFormed(value);
  if (typeof value !== 'object' || value === null || ancestors.includes(value)) return true;
  if (types.isRegExp(value)) return isWellFormed(value.source);
  if (types.isArrayBufferView(value) || types.isAnyArrayBuffer(value) || types.isDate(value)) {
    return true;
  }
  if (isBsonValue(value) && FIXED_BSON_BYTES[value._bsontype] !== undefined) return true;
  ancestors.push(value);
  const wellFormed = Object.entries(value).every(
    ([key, each]) => isWellFormed(key) && bsonStringsWellFormed(each, ancestors),
  );
  ancestors.pop();
  return wellFormed;
}

/** Reverses the key escaping at every depth; copies only the objects whose keys change. */
export function readRecord(record: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(record);
  let copy: Record<string, unknown> | undefined;
  for (let index = 0; index < keys.length; index += 1) {
    const key = keys[index] as string;
    const original = record[key];
    const read = readValue(original);
    const readKey = unescapeKey(key);
    if (copy === undefined && (read !== original || readKey !== key)) {
      copy = {};
      for (const earlier of keys.slice(0, index)) setOwn(copy, earlier, record[earlier]);
    }
    if (copy !== undefined) setOwn(copy, readKey, read);
  }
  return copy ?? record;
}

function readValue(value: unknown): unknown {
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let index = 0; index < value.length; index += 1) {
      const read = readValue(value[index]);
      if (copy === undefined && read !== value[index]) copy = value.slice(0, index);
      copy?.push(read);
    }
    return copy ?? value;
  }
  return isPlainObject(value) ? readRecord(value) : value;
}

/** Runs a method of the session's own objects; what it throws is refused without its message. */
export function called(run: () => unknown, problem: string): unknown {
  try {
    return run();
  } catch (error) {
    throw new InvalidSessionError(`The session cannot be stored: ${problem}`, {
      cause: withheld(error),
    });
  }
}
