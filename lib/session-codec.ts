import { UnreadableSessionError } from './errors.js';
import type { ResolvedOptions } from './options.js';

/** A session on its way into a document. */
export interface EncodedSession {
  /** The value of the document's `session` field. */
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

/** The codec for the resolved options. */
export function createSessionCodec(
  options: Pick<ResolvedOptions, 'serializer' | 'expiresMs'>,
): SessionCodec {
  const expiryOf = (session: SessionFields, now: number): Date => {
    const expires = session.cookie?.expires;
    if (expires === undefined || expires === null || expires === false) {
      return new Date(now + options.expiresMs);
    }
    const date = expires instanceof Date ? expires : new Date(expires as string);
    if (Number.isNaN(date.getTime())) {
      throw new TypeError(
        'Expected `session.cookie.expires` to be a Date, a date string or a timestamp',
      );
    }
    return date;
  };
  return {
    encode(_sid, session, now = Date.now()) {
      const fields = checkedSession(session);
      return { session: toStored(fields), expires: expiryOf(fields, now) };
    },
    encodeTouch(_sid, session, now = Date.now()) {
      const fields = checkedSession(session);
      const cookie = toStored(fields).cookie;
      return {
        set: cookie === undefined ? {} : { 'session.cookie': cookie },
        expires: expiryOf(fields, now),
      };
    },
    decode(stored) {
      if (typeof stored !== 'object' || stored === null) {
        throw new UnreadableSessionError(`expected a document, got ${typeof stored}`);
      }
      return stored as Record<string, unknown>;
    },
    readOptions: {},
  };
}

interface SessionFields {
  cookie?: { expires?: unknown; toJSON?(): unknown } | null | undefined;
  [key: string]: unknown;
}

function checkedSession(session: unknown): SessionFields {
  if (typeof session !== 'object' || session === null || Array.isArray(session)) {
    throw new TypeError(
      `Expected a session to be an object, got ${session === null ? 'null' : typeof session}`,
    );
  }
  return session as SessionFields;
}

/** The session as stored: a plain copy whose cookie is its JSON form (a Cookie instance holds `_expires`). */
function toStored(session: SessionFields): SessionFields {
  const cookie = session.cookie;
  if (cookie === undefined || cookie === null) return { ...session };
  return {
    ...session,
    cookie: (typeof cookie.toJSON === 'function'
      ? cookie.toJSON()
      : { ...cookie }) as SessionFields['cookie'],
  };
}
