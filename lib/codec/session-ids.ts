/**
 * Session ids as stored: checked, then passed through `transformId`, so that a dump of the
 * collection need not be a list of valid cookies. Part of the codec: the repository only asks it
 * for the stored id of a session id.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { types } from 'node:util';
import { InvalidSessionIdError } from '../errors/classes.js';
import type { TransformId } from '../options/option-types.js';
import { describeValue, isWellFormed } from '../support/values.js';

/** Browsers keep cookies of at most 4 096 bytes, so no real session id is longer. */
export const MAX_SESSION_ID_LENGTH = 4096;

/** The shortest secret `hashSessionId` takes, in bytes: 128 bits, beyond anyone's guessing. */
const MIN_SECRET_BYTES = 16;

/**
 * The session id itself, once checked: a non-empty string of at most 4 096 characters, and
 * well-formed UTF-16. A lone surrogate would be stored (BSON is UTF-8) and hashed (the HMAC
 * reads UTF-8) as U+FFFD, so `'a\uD800'` would read the session of `'a\uFFFD'`.
 */
function validId(sid: unknown): string {
  if (typeof sid !== 'string' || sid === '' || sid.length > MAX_SESSION_ID_LENGTH) {
    throw new InvalidSessionIdError(sid);
  }
  if (!isWellFormed(sid)) {
    throw new InvalidSessionIdError(sid, WELL_FORMED_ID, { got: withLoneSurrogate(sid) });
  }
  return sid;
}

const WELL_FORMED_ID =
  'a session id to be well-formed UTF-16 (a lone surrogate would be stored and hashed as U+FFFD, the character of other ids)';

/**
 * The function from a session id to its stored key: the checked id, or what `transform` makes of
 * it, which must be a non-empty, well-formed string. Both refusals are `InvalidSessionIdError`s,
 * raised before anything is sent, that describe the value by type and length only.
 */
export function storedIdOf(transform: TransformId | undefined): (sid: unknown) => string {
  if (transform === undefined) return validId;
  return (sid) => {
    const id = validId(sid);
    let stored: unknown;
    try {
      stored = transform(id);
    } catch (error) {
      throw new InvalidSessionIdError(undefined, TRANSFORM_RESULT, {
        got: `a thrown ${error instanceof Error ? 'error' : describeValue(error)}`,
        cause: error,
      });
    }
    if (typeof stored !== 'string' || stored === '') {
      throw new InvalidSessionIdError(stored, TRANSFORM_RESULT);
    }
    if (!isWellFormed(stored)) {
      throw new InvalidSessionIdError(stored, WELL_FORMED_RESULT, {
        got: withLoneSurrogate(stored),
      });
    }
    return stored;
  };
}

const TRANSFORM_RESULT = '`transformId(sid)` to return a non-empty string';
const WELL_FORMED_RESULT =
  '`transformId(sid)` to return well-formed UTF-16 (a lone surrogate would be stored as U+FFFD, the character of other ids)';

function withLoneSurrogate(text: string): string {
  return `a string of length ${text.length} with a lone surrogate`;
}

/**
 * A `transformId` that stores each session under the HMAC-SHA-256 of its id with `secret`, in
 * base64url (43 characters): a dump of the collection then holds no usable cookie, and nobody
 * without the secret can tell which stored session belongs to a cookie they hold. Give a long
 * random secret (32 bytes: `crypto.randomBytes(32)`), kept apart from the database; changing it
 * logs everyone out. The function it returns refuses, as the store does, an id that is not a
 * session id (a lone surrogate would hash as U+FFFD: two ids, one hash).
 * @throws {TypeError} for a secret that is not a string, Buffer or Uint8Array of at least 16
 * bytes (a string counts in UTF-8 bytes, and must be well-formed UTF-16).
 */
export function hashSessionId(secret: string | Buffer | Uint8Array): TransformId {
  const problem = secretProblem(secret);
  if (problem !== undefined) {
    throw new TypeError(
      `Expected the secret of \`hashSessionId(secret)\` to be a string, Buffer or Uint8Array of at least ${MIN_SECRET_BYTES} bytes (give 32 random bytes: crypto.randomBytes(32)), got ${problem}`,
    );
  }
  // A KeyObject: copied from the caller's buffer, and never printed by `util.inspect`.
  const key: KeyObject = createSecretKey(
    typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret,
  );
  return function hashedSessionId(sid: string): string {
    return createHmac('sha256', key).update(validId(sid), 'utf8').digest('base64url');
  };
}

/** What is wrong with a `hashSessionId` secret, by kind and size only; undefined when nothing is. */
function secretProblem(secret: unknown): string | undefined {
  if (typeof secret === 'string') {
    // Two secrets differing only in lone surrogates would be one key.
    if (!isWellFormed(secret)) return withLoneSurrogate(secret);
    const bytes = Buffer.byteLength(secret, 'utf8');
    return bytes < MIN_SECRET_BYTES
      ? `a string of ${bytes} byte${bytes === 1 ? '' : 's'}`
      : undefined;
  }
  if (!types.isUint8Array(secret)) return describeValue(secret);
  if (secret.byteLength >= MIN_SECRET_BYTES) return undefined;
  const { byteLength } = secret;
  return `${Buffer.isBuffer(secret) ? 'a Buffer' : 'a Uint8Array'} of ${byteLength} byte${byteLength === 1 ? '' : 's'}`;
}
