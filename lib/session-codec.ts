import { types } from 'node:util';
import { BSON } from 'mongodb';
import { InvalidSessionError, UnreadableSessionError } from './errors.js';
import type { ResolvedOptions, SessionSerializer } from './options.js';

/** A session on its way into a document. */
export interface EncodedSession {
  /**
   * The value of the document's `session` field: exactly what is stored (no `undefined` or
   * function values left for the driver to drop), or the serializer's string.
   */
  readonly session: unknown;
  /** When the session expires: its cookie's expiry, else now plus the `expires` option. */
  readonly expires: Date;
}

/** The fields a `touch` writes: the stored cookie (or whole session, for string forms) and the expiry. */
export interface EncodedTouch {
  /** `$set` fields other than the expiry. */
  readonly set: Readonly<Record<string, unknown>>;
  readonly expires: Date;
}

/** Driver options for reads of the `session` field, so that `decode` sees exact values. */
export interface CodecReadOptions {
  readonly useBigInt64?: boolean;
  readonly promoteBuffers?: boolean;
}

/**
 * Turns sessions into the stored `session` field and back. The only module that knows the
 * stored form; plain functions of the resolved options, testable without a database.
 * The rules, value by value, are in docs/serialization.md.
 */
export interface SessionCodec {
  /** For `set`. Throws `InvalidSessionError` (a `TypeError`) before anything is sent. */
  encode(sid: string, session: object, now?: number): EncodedSession;
  /** For `touch`. Throws `InvalidSessionError` before anything is sent. */
  encodeTouch(sid: string, session: object, now?: number): EncodedTouch;
  /** The session from a stored `session` field. Throws `UnreadableSessionError`. */
  decode(stored: unknown): Record<string, unknown>;
  readonly readOptions: CodecReadOptions;
}

/** What the codec reads of the resolved options; the field names only make the size check exact. */
export type SessionCodecOptions = Pick<ResolvedOptions, 'serializer' | 'expiresMs'> &
  Partial<Pick<ResolvedOptions, 'idField' | 'expiresKey'>>;

/** MongoDB's largest document, in bytes (16 MiB). */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
/** MongoDB's deepest document: the document is level 1, `session` level 2, each object or array one more. */
export const MAX_DOCUMENT_LEVELS = 100;

const MIN_INT64 = -(2n ** 63n);
const MAX_INT64 = 2n ** 63n - 1n;
/** Every value of the bson package (5 and later) answers this symbol with its major version. */
const BSON_VERSION = Symbol.for('@@mdb.bson.version');
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
/** Only the size matters, so any id of the right type stands in for the `_id` a custom idField leaves to the server. */
const SIZE_PLACEHOLDER_ID = new BSON.ObjectId('000000000000000000000000');
/** Marks an object property the store drops, as JSON and the driver do (`undefined`, functions). */
const DROP = Symbol('drop');

/** The codec for the resolved options. */
export function createSessionCodec(options: SessionCodecOptions): SessionCodec {
  const { serializer } = options;
  const stringForm = serializer === 'document' ? undefined : stringSerializer(serializer);
  const checkSize = sizeCheck(options);

  const encodeString = (form: StringForm, sid: string, session: object, now: number) => {
    const record = sessionRecord(session);
    storedCookie(record);
    const expires = expiryOf(record.cookie, now, options.expiresMs);
    const text = stringified(form, record);
    checkSize(sid, text, expires, { bytes: 5 + 3 * text.length, exact: false, ancestors: [] });
    return { text, expires };
  };

  return {
    encode(sid, session, now = Date.now()) {
      if (stringForm !== undefined) {
        const { text, expires } = encodeString(stringForm, sid, session, now);
        return { session: text, expires };
      }
      const record = sessionRecord(session);
      const cookie = storedCookie(record);
      const expires = expiryOf(record.cookie, now, options.expiresMs);
      const state: WalkState = { bytes: 0, exact: false, ancestors: [] };
      const stored = storedRecord(record, 0, state, cookie);
      checkSize(sid, stored, expires, state);
      return { session: stored, expires };
    },
    encodeTouch(sid, session, now = Date.now()) {
      if (stringForm !== undefined) {
        const { text, expires } = encodeString(stringForm, sid, session, now);
        return { set: { session: text }, expires };
      }
      const record = sessionRecord(session);
      const cookie = storedCookie(record);
      const expires = expiryOf(record.cookie, now, options.expiresMs);
      if (cookie === undefined || cookie === null) return { set: {}, expires };
      // The `{ cookie }` the size is checked on: its header and the `cookie` element.
      const state: WalkState = { bytes: 5 + 2 + 3 * 'cookie'.length, exact: false, ancestors: [] };
      const stored = storedValue(cookie, 1, state);
      if (stored === DROP) return { set: {}, expires };
      // The rest of the stored session is not known here; the cookie alone must at least fit.
      checkSize(sid, { cookie: stored }, expires, state);
      return { set: { 'session.cookie': stored }, expires };
    },
    decode(stored) {
      // Dispatch on what is stored, not on the option: documents (version 5's form) are read
      // whatever the serializer, so changing it keeps the sessions already stored readable.
      // A string under the document form is connect-mongo's default form, a JSON string: read
      // it, so that switching stores logs nobody out (the next write stores a document).
      if (typeof stored === 'string') return readString(stringForm ?? JSON_FORM, stored);
      if (!isPlainRecord(stored)) {
        throw new UnreadableSessionError(`expected a document or a string, got ${kindOf(stored)}`);
      }
      return readRecord(stored);
    },
    readOptions: { useBigInt64: true, promoteBuffers: true },
  };
}

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

interface SessionFields {
  cookie?: unknown;
  [key: string]: unknown;
}

interface WalkState {
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

/** A session is an object, stored as its own properties. */
function sessionRecord(session: unknown): SessionFields {
  if (
    typeof session !== 'object' ||
    session === null ||
    Array.isArray(session) ||
    specialKind(session) !== undefined
  ) {
    throw new InvalidSessionError(`Expected a session to be an object, got ${kindOf(session)}`);
  }
  return session as SessionFields;
}

/** The cookie as stored: an express-session Cookie in its JSON form (the instance keeps `_expires`). */
function storedCookie(session: SessionFields): object | null | undefined {
  const { cookie } = session;
  if (cookie === undefined || cookie === null) return cookie;
  if (typeof cookie !== 'object' || Array.isArray(cookie)) {
    throw new InvalidSessionError(
      `Expected \`session.cookie\` to be an object, null or undefined, got ${kindOf(cookie)}`,
    );
  }
  const toJSON = (cookie as { toJSON?: unknown }).toJSON;
  if (typeof toJSON !== 'function') return cookie;
  const json = called(() => toJSON.call(cookie), '`session.cookie.toJSON()` threw');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidSessionError(
      `Expected \`session.cookie.toJSON()\` to return an object, got ${kindOf(json)}`,
    );
  }
  return json;
}

/**
 * The expiry from the cookie. express-session only ever produces a Date, a date string or null,
 * so anything else is refused rather than guessed at (a number could be a timestamp or a max age).
 */
function expiryOf(cookie: unknown, now: number, expiresMs: number): Date {
  const expires = (cookie as { expires?: unknown } | null | undefined)?.expires;
  if (expires === undefined || expires === null || expires === false) {
    return new Date(now + expiresMs);
  }
  let problem = kindOf(expires);
  if (types.isDate(expires)) {
    if (!Number.isNaN(expires.getTime())) return expires;
    problem = 'an invalid Date';
  } else if (typeof expires === 'string') {
    const date = new Date(expires);
    if (!Number.isNaN(date.getTime())) return date;
    problem = 'a string that is not a date';
  }
  throw new InvalidSessionError(
    `Expected \`session.cookie.expires\` to be a Date, a date string or null, got ${problem}`,
  );
}

/** One value as stored; the value itself unless something in it had to change. */
function storedValue(value: unknown, depth: number, state: WalkState): unknown {
  switch (typeof value) {
    case 'string':
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
    if (fixed === undefined) state.exact = true;
    else state.bytes += fixed;
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
function storedRecord(
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
    const original = depth === 0 && key === 'cookie' && cookie !== undefined ? cookie : record[key];
    const stored = storedValue(original, depth + 1, state);
    const storedKey = escapeKey(key);
    if (copy === undefined && (stored !== record[key] || storedKey !== key)) {
      copy = {};
      for (const earlier of keys.slice(0, index)) defineOwn(copy, earlier, record[earlier]);
    }
    if (stored === DROP) continue;
    state.bytes += 2 + 3 * storedKey.length;
    if (copy !== undefined) defineOwn(copy, storedKey, stored);
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

/** A value of the bson package, which the driver writes itself. */
function isBsonValue(value: object): value is { _bsontype: string } {
  return (
    typeof (value as { _bsontype?: unknown })._bsontype === 'string' &&
    typeof Reflect.get(value, BSON_VERSION) === 'number'
  );
}

/**
 * Objects the store refuses (the driver would write a `Set` as `{}`, a `Float32Array` as an
 * object of indexes, a `Map` by its keys), named by kind; undefined for records.
 */
function specialKind(value: object): string | undefined {
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

/** Names a value by its kind, never by its contents. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return specialKind(value) ?? 'an object';
  return `a ${typeof value}`;
}

/**
 * Sets an own property. Only `__proto__` has a setter on `Object.prototype` (assigning it would
 * change the prototype), so only it goes through the slower `defineProperty`.
 */
function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
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

/** Rule 8: the size of the document the write produces, counted exactly only when it could exceed the limit. */
function sizeCheck(options: SessionCodecOptions) {
  const idField = options.idField ?? '_id';
  const expiresKey = options.expiresKey ?? 'expires';
  // Document header and trailer, the `session` name, the expiry and, for a custom idField, the
  // ObjectId `_id` the server adds.
  const fixed = 5 + 9 + (2 + 3 * expiresKey.length + 8) + (idField === '_id' ? 0 : 2 + 3 + 12);
  return (sid: string, stored: unknown, expires: Date, state: WalkState): void => {
    const estimate = fixed + 2 + 3 * idField.length + 5 + 3 * sid.length + state.bytes;
    if (!state.exact && estimate <= MAX_DOCUMENT_BYTES) return;
    const document =
      idField === '_id'
        ? { _id: sid, session: stored, [expiresKey]: expires }
        : { _id: SIZE_PLACEHOLDER_ID, [idField]: sid, session: stored, [expiresKey]: expires };
    let bytes: number;
    try {
      bytes = BSON.calculateObjectSize(document);
    } catch (error) {
      throw new InvalidSessionError(
        'The session cannot be stored: its BSON size cannot be computed (a value of another bson version?)',
        { cause: contentFree(error) },
      );
    }
    if (bytes > MAX_DOCUMENT_BYTES) {
      throw new InvalidSessionError(
        `The session cannot be stored: its document would take ${bytes} bytes, more than the ${MAX_DOCUMENT_BYTES} of a MongoDB document`,
      );
    }
  };
}

interface StringForm {
  readonly name: string;
  stringify(session: unknown): unknown;
  parse(text: string): unknown;
  /** Names what in a session JSON cannot hold, for JSON's own errors. */
  readonly diagnose: ((session: unknown) => string | undefined) | undefined;
}

const JSON_FORM: StringForm = {
  name: 'JSON',
  stringify: (session) => JSON.stringify(session),
  parse: (text) => JSON.parse(text),
  diagnose: jsonProblem,
};

function stringSerializer(serializer: 'json' | SessionSerializer): StringForm {
  if (serializer === 'json') return JSON_FORM;
  return {
    name: "the serializer's",
    stringify: (session) => serializer.stringify(session),
    parse: (text) => serializer.parse(text),
    diagnose: undefined,
  };
}

function stringified(form: StringForm, session: SessionFields): string {
  let text: unknown;
  try {
    text = form.stringify(session);
  } catch (error) {
    const problem = safely(() => form.diagnose?.(session));
    throw new InvalidSessionError(
      `The session cannot be stored: ${problem ?? `${form.name} stringify threw ${errorKind(error)}`}`,
      { cause: contentFree(error) },
    );
  }
  if (typeof text !== 'string') {
    throw new InvalidSessionError(
      `The session cannot be stored: ${form.name} stringify returned ${kindOf(text)}, not a string`,
    );
  }
  return text;
}

function readString(form: StringForm, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = form.parse(text);
  } catch (error) {
    throw new UnreadableSessionError(
      `${form.name} parse threw ${errorKind(error)}`,
      contentFree(error),
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UnreadableSessionError(
      `${form.name} parse returned ${kindOf(parsed)}, not an object`,
    );
  }
  return parsed as Record<string, unknown>;
}

/** Reverses the key escaping at every depth; copies only the objects whose keys change. */
function readRecord(record: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(record);
  let copy: Record<string, unknown> | undefined;
  for (let index = 0; index < keys.length; index += 1) {
    const key = keys[index] as string;
    const original = record[key];
    const read = readValue(original);
    const readKey = unescapeKey(key);
    if (copy === undefined && (read !== original || readKey !== key)) {
      copy = {};
      for (const earlier of keys.slice(0, index)) defineOwn(copy, earlier, record[earlier]);
    }
    if (copy !== undefined) defineOwn(copy, readKey, read);
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
  return isPlainRecord(value) ? readRecord(value) : value;
}

/** What the driver reads a document as; its other values (DBRef, Binary …) are left alone. */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Emulates JSON.stringify's walk to say what it choked on and where; only run after it threw. */
function jsonProblem(
  value: unknown,
  key = '',
  depth = 0,
  ancestors: unknown[] = [],
): string | undefined {
  let current = value;
  const toJSON = (current as { toJSON?: unknown } | null | undefined)?.toJSON;
  if (typeof toJSON === 'function') {
    try {
      current = toJSON.call(current, key);
    } catch {
      return `a toJSON method that throws at depth ${depth}`;
    }
  }
  if (typeof current === 'bigint') return `a BigInt at depth ${depth}`;
  if (typeof current !== 'object' || current === null) return undefined;
  if (ancestors.includes(current)) return `a circular reference at depth ${depth}`;
  ancestors.push(current);
  const entries = Array.isArray(current)
    ? current.map((_, index) => String(index))
    : Object.keys(current);
  for (const entry of entries) {
    const problem = jsonProblem(
      (current as Record<string, unknown>)[entry],
      entry,
      depth + 1,
      ancestors,
    );
    if (problem !== undefined) return problem;
  }
  ancestors.pop();
  return undefined;
}

/** Runs a method of the session's own objects; what it throws is refused without its message. */
function called(run: () => unknown, problem: string): unknown {
  try {
    return run();
  } catch (error) {
    throw new InvalidSessionError(`The session cannot be stored: ${problem}`, {
      cause: contentFree(error),
    });
  }
}

function safely<T>(run: () => T): T | undefined {
  try {
    return run();
  } catch {
    return undefined;
  }
}

function errorKind(error: unknown): string {
  return error instanceof Error ? `a ${error.name}` : kindOf(error);
}

/**
 * The error's name and stack frames without its message: JSON.stringify names the keys of a
 * circular path and JSON.parse quotes the text, so the original would print session contents
 * wherever the error is logged.
 */
function contentFree(error: unknown): Error {
  const name = error instanceof Error ? error.name : 'Error';
  const safe = new Error('(message withheld: it may quote session contents)');
  safe.name = name;
  const stack = error instanceof Error ? safely(() => error.stack) : undefined;
  const header = error instanceof Error ? (safely(() => String(error)) ?? '') : '';
  safe.stack =
    typeof stack === 'string' && header !== '' && stack.startsWith(header)
      ? `${name}: ${safe.message}${stack.slice(header.length)}`
      : `${name}: ${safe.message}`;
  return safe;
}
