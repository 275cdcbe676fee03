/**
 * Session ids as stored: checked, then passed through `transformId`, so that a dump of the
 * collection need not be a list of valid cookies. Part of the codec: the repository only asks it
 * for the stored id of a session id.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { types } from 'node:util';
import { describeValue, InvalidSessionIdError } from './errors.js';

/** Browsers keep cookies of at most 4 096 bytes, so no real session id is longer. */
export const MAX_SESSION_ID_LENGTH = 4096;

/** Turns a session id into the key its session is stored under (connect-mongo's `transformId`). */
export type TransformId = (sid: string) => string;

/** The session id itself, once checked: a non-empty string of at most 4 096 characters. */
export function validId(sid: unknown): string {
  if (typeof sid !== 'string' || sid === '' || sid.length > MAX_SESSION_ID_LENGTH) {
    throw new InvalidSessionIdError(sid);
  }
  return sid;
}

/**
 * The function from a session id to its stored key: the checked id, or what `transform` makes of
 * it, which must be a non-empty string. Both refusals are `InvalidSessionIdError`s, raised before
 * anything is sent, that describe the value by type only.
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
    return stored;
  };
}

const TRANSFORM_RESULT = '`transformId(sid)` to return a non-empty string';

/** The `transformId` option, checked at construction. */
export function transformIdOption(value: unknown): TransformId | undefined {
  if (value === undefined || typeof value === 'function') return value as TransformId | undefined;
  throw new TypeError(
    `Expected \`transformId\` to be a function from a session id to the string it is stored under, got ${describeValue(value)}`,
  );
}

/**
 * A `transformId` that stores each session under the HMAC-SHA-256 of its id with `secret`, in
 * base64url (43 characters): a dump of the collection then holds no usable cookie, and nobody
 * without the secret can tell which stored session belongs to a cookie they hold. Give a long
 * random secret (32 bytes), kept apart from the database; changing it logs everyone out.
 * @throws {TypeError} for a secret that is not a non-empty string, Buffer or Uint8Array.
 */
export function hashSessionId(secret: string | Buffer | Uint8Array): TransformId {
  const valid =
    typeof secret === 'string'
      ? secret !== ''
      : types.isUint8Array(secret) && (secret as Uint8Array).byteLength > 0;
  if (!valid) {
    throw new TypeError(
      `Expected the secret of \`hashSessionId(secret)\` to be a non-empty string, Buffer or Uint8Array, got ${describeValue(secret)}`,
    );
  }
  // A KeyObject: copied from the caller's buffer, and never printed by `util.inspect`.
  const key: KeyObject = createSecretKey(
    typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret,
  );
  return function hashedSessionId(sid: string): string {
    return createHmac('sha256', key).update(sid, 'utf8').digest('base64url');
  };
}
