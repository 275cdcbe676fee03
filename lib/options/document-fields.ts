/**
 * The fixed top-level fields of a stored session document, beside the id and expiry fields the
 * options name. Declared here, below the codec that writes them, so that `idField` and
 * `expiresKey` can be refused when they would name one (codec/session-ends.ts writes them).
 */

/** When the session was first written (by this version): never moved by later writes. */
export const CREATED_AT = 'createdAt';
/** When the session was last written or touched (connect-mongo's name, with its meaning). */
export const LAST_MODIFIED = 'lastModified';
/** Set on a tombstone only: when the session was ended. */
export const ENDED_AT = 'endedAt';

/** The fields `idField` and `expiresKey` may not name: the session's own, and those beside it. */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set([
  'session',
  CREATED_AT,
  LAST_MODIFIED,
  ENDED_AT,
]);
