/**
 * The codec: composes the two stored forms (bson-form.ts, string-form.ts) with what both share,
 * the session's shape, the expiry taken from its cookie and the check that the document fits;
 * and with the two protections at rest, the stored id (session-ids.ts) and encryption
 * (session-crypto.ts), which wrap whichever form is configured.
 */
import { types } from 'node:util';
import { BSON } from 'mongodb';
import { InvalidSessionError, UnreadableSessionError } from '../errors/classes.js';
import { withheld } from '../errors/redaction.js';
import { CREATED_AT, LAST_MODIFIED } from '../options/document-fields.js';
import type { ResolvedEncryption } from '../options/encryption-option.js';
import type { ResolvedOptions } from '../options/options.js';
import { describeValue, isPlainObject, specialKind } from '../support/values.js';
import {
  called,
  DROP,
  escapeKey,
  MAX_DOCUMENT_BYTES,
  readRecord,
  type SessionFields,
  storedRecord,
  storedValue,
  type WalkState,
} from './bson-form.js';
import { REWRITE_MARK } from './key-shapes.js';
import { isSealed, open, seal } from './session-crypto.js';
import { storedIdOf } from './session-ids.js';
import {
  JSON_FORM,
  readString,
  type StringForm,
  stringified,
  stringSerializer,
} from './string-form.js';

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
 * Turns sessions into the stored `session` field and back, and session ids into the keys they
 * are stored under. With its forms, the only part of the store that knows the stored form;
 * plain functions of the resolved options, testable without a database. The rules, value by
 * value, are in docs/serialization.md; the protections at rest in docs/security.md.
 */
export interface SessionCodec {
  /**
   * The key a session id is stored under: the id, or `transformId(id)`. Throws
   * `InvalidSessionIdError` (a `TypeError`) for an id, or a transformed id, that is not a
   * non-empty string of well-formed UTF-16.
   */
  storedId(sid: unknown): string;
  /** For `set`, given the stored id. Throws `InvalidSessionError` (a `TypeError`) before anything is sent. */
  encode(storedId: string, session: object, now?: number): EncodedSession;
  /** For `touch`, given the stored id. Throws `InvalidSessionError` before anything is sent. */
  encodeTouch(storedId: string, session: object, now?: number): EncodedTouch;
  /**
   * The session from a stored `session` field and the stored id it was found under. Throws
   * `UnreadableSessionError`, or its subclass `SessionDecryptionError` for an encrypted session
   * that does not decrypt.
   */
  decode(stored: unknown, storedId: string): Record<string, unknown>;
  readonly readOptions: CodecReadOptions;
  /** How a query on session fields reaches them in the stored form, if it can. */
  readonly query: SessionQueryForm;
}

/**
 * Whether the server can see session fields: in the document form it can, under keys escaped
 * as `storedKey` says; a string form or encryption leaves it one opaque value, for `reason`.
 */
export type SessionQueryForm =
  | { readonly queryable: true; storedKey(key: string): string }
  | { readonly queryable: false; readonly reason: string };

/** What the codec reads of the resolved options; the field names only make the size check exact. */
export type SessionCodecOptions = Pick<ResolvedOptions, 'serializer' | 'expiresMs'> &
  Partial<Pick<ResolvedOptions, 'idField' | 'expiresKey' | 'transformId' | 'encryption'>>;

// The document's limits and the key escaping are part of what the codec promises
// (docs/serialization.md), so callers find them here rather than in the form that implements them.
export {
  escapeKey,
  MAX_DOCUMENT_BYTES,
  MAX_DOCUMENT_LEVELS,
  unescapeKey,
} from './bson-form.js';

/** Only the size matters, so any id of the right type stands in for the `_id` a custom idField leaves to the server. */
const SIZE_PLACEHOLDER_ID = new BSON.ObjectId('000000000000000000000000');

/** The codec for the resolved options. */
export function createSessionCodec(options: SessionCodecOptions): SessionCodec {
  const { serializer, encryption } = options;
  const stringForm = serializer === 'document' ? undefined : stringSerializer(serializer);
  const checkSize = sizeCheck(options);
  const readOptions = { useBigInt64: true, promoteBuffers: true } as const;

  const encodeString = (form: StringForm, sid: string, session: object, now: number) => {
    const record = sessionRecord(session);
    storedCookie(record);
    const expires = expiryOf(record.cookie, now, options.expiresMs);
    const text = stringified(form, record);
    checkSize(sid, text, expires, { bytes: 5 + 3 * text.length, exact: false, ancestors: [] });
    return { text, expires };
  };

  const encodeClear = (sid: string, session: object, now: number): EncodedSession => {
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
  };

  const encode = (sid: string, session: object, now = Date.now()): EncodedSession => {
    const clear = encodeClear(sid, session, now);
    if (encryption === undefined) return clear;
    const locked = sealedForm(encryption, sid, clear.session);
    checkSize(sid, locked, clear.expires, {
      bytes: 5 + locked.position,
      exact: false,
      ancestors: [],
    });
    return { session: locked, expires: clear.expires };
  };

  return {
    storedId: storedIdOf(options.transformId),
    encode,
    encodeTouch(sid, session, now = Date.now()) {
      // A string, or a sealed session, cannot have its cookie set alone: the whole session is written.
      if (stringForm !== undefined || encryption !== undefined) {
        const { session: stored, expires } = encode(sid, session, now);
        return { set: { session: stored }, expires };
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
    decode(stored, storedId) {
      // Dispatch on what is stored, not on the option: documents (version 5's form) are read
      // whatever the serializer, so changing it keeps the sessions already stored readable.
      // A string under the document form is connect-mongo's default form, a JSON string: read
      // it, so that switching stores logs nobody out (the next write stores a document).
      // Sessions stored in clear are read with encryption on, so turning it on logs nobody out.
      if (isSealed(stored)) {
        const { form, plaintext } = open(encryption, stored, storedId);
        if (form === 'string') return readString(stringForm ?? JSON_FORM, plaintext.toString());
        return readRecord(deserialized(plaintext, readOptions));
      }
      if (typeof stored === 'string') return readString(stringForm ?? JSON_FORM, stored);
      if (!isPlainObject(stored)) {
        throw new UnreadableSessionError(
          `expected a document or a string, got ${describeValue(stored)}`,
        );
      }
      return readRecord(unmarked(stored));
    },
    readOptions,
    query: queryForm(options),
  };
}

/** The audit times a write adds beside the session (session-ends.ts), for the size check: any date will do. */
function auditTimes(date: Date): Record<string, Date> {
  return { [CREATED_AT]: date, [LAST_MODIFIED]: date };
}

/** The stored session without the marks a write under way may have added (key-shapes.ts). */
function unmarked(stored: Record<string, unknown>): Record<string, unknown> {
  const { cookie } = stored;
  const cookieMarked = isPlainObject(cookie) && Object.hasOwn(cookie, REWRITE_MARK);
  if (!Object.hasOwn(stored, REWRITE_MARK) && !cookieMarked) return stored;
  const { [REWRITE_MARK]: _mark, ...rest } = stored;
  if (cookieMarked) {
    const { [REWRITE_MARK]: _cookieMark, ...unmarkedCookie } = cookie;
    rest.cookie = unmarkedCookie;
  }
  return rest;
}

function queryForm({ serializer, encryption }: SessionCodecOptions): SessionQueryForm {
  if (encryption !== undefined) {
    return { queryable: false, reason: '`encryption` stores each session as ciphertext' };
  }
  if (serializer !== 'document') {
    return { queryable: false, reason: '`serializer` stores each session as one string' };
  }
  return { queryable: true, storedKey: escapeKey };
}

/** The clear stored form sealed: a string form as UTF-8, the document form as BSON. */
function sealedForm(encryption: ResolvedEncryption, sid: string, clear: unknown): BSON.Binary {
  if (typeof clear === 'string') return seal(encryption, 'string', Buffer.from(clear), sid);
  let bytes: Uint8Array;
  try {
    bytes = BSON.serialize(clear as BSON.Document, { ignoreUndefined: true });
  } catch (error) {
    throw new InvalidSessionError('The session cannot be stored: BSON serialization threw', {
      cause: withheld(error),
    });
  }
  return seal(encryption, 'document', bytes, sid);
}

/** A decrypted document form; it authenticated, so only a bug or another bson could make it fail. */
function deserialized(bytes: Buffer, readOptions: CodecReadOptions): Record<string, unknown> {
  try {
    return BSON.deserialize(bytes, readOptions);
  } catch (error) {
    throw new UnreadableSessionError('its decrypted BSON did not parse', withheld(error));
  }
}

/** A session is an object, stored as its own properties. */
function sessionRecord(session: unknown): SessionFields {
  if (
    typeof session !== 'object' ||
    session === null ||
    Array.isArray(session) ||
    specialKind(session) !== undefined
  ) {
    throw new InvalidSessionError(
      `Expected a session to be an object, got ${describeValue(session)}`,
    );
  }
  return session as SessionFields;
}

/** The cookie as stored: an express-session Cookie in its JSON form (the instance keeps `_expires`). */
function storedCookie(session: SessionFields): object | null | undefined {
  const { cookie } = session;
  if (cookie === undefined || cookie === null) return cookie;
  if (typeof cookie !== 'object' || Array.isArray(cookie)) {
    throw new InvalidSessionError(
      `Expected \`session.cookie\` to be an object, null or undefined, got ${describeValue(cookie)}`,
    );
  }
  const toJSON = (cookie as { toJSON?: unknown }).toJSON;
  if (typeof toJSON !== 'function') return cookie;
  const json = called(() => toJSON.call(cookie), '`session.cookie.toJSON()` threw');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidSessionError(
      `Expected \`session.cookie.toJSON()\` to return an object, got ${describeValue(json)}`,
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
  let problem = describeValue(expires);
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

/** Rule 8: the size of the document the write produces, counted exactly only when it could exceed the limit. */
function sizeCheck(options: SessionCodecOptions) {
  const idField = options.idField ?? '_id';
  const expiresKey = options.expiresKey ?? 'expires';
  // Document header and trailer, the `session` name, the expiry, the audit times and, for a
  // custom idField, the ObjectId `_id` the server adds.
  const dates = [expiresKey, CREATED_AT, LAST_MODIFIED];
  const fixed =
    5 +
    9 +
    dates.reduce((bytes, name) => bytes + 2 + 3 * name.length + 8, 0) +
    (idField === '_id' ? 0 : 2 + 3 + 12);
  return (sid: string, stored: unknown, expires: Date, state: WalkState): void => {
    const estimate = fixed + 2 + 3 * idField.length + 5 + 3 * sid.length + state.bytes;
    if (!state.exact && estimate <= MAX_DOCUMENT_BYTES) return;
    const fields = { session: stored, [expiresKey]: expires, ...auditTimes(expires) };
    const document =
      idField === '_id'
        ? { _id: sid, ...fields }
        : { _id: SIZE_PLACEHOLDER_ID, [idField]: sid, ...fields };
    let bytes: number;
    try {
      bytes = BSON.calculateObjectSize(document);
    } catch (error) {
      throw new InvalidSessionError(
        'The session cannot be stored: its BSON size cannot be computed (a value of another bson version?)',
        { cause: withheld(error) },
      );
    }
    if (bytes > MAX_DOCUMENT_BYTES) {
      throw new InvalidSessionError(
        `The session cannot be stored: its document would take ${bytes} bytes, more than the ${MAX_DOCUMENT_BYTES} of a MongoDB document`,
      );
    }
  };
}
