/** The types of the repository's results and listeners (session-repository.ts exports them). */
import type { IndexError, UnreadableSessionError } from '../errors/classes.js';

/**
 * What `set` did: stored a new session, replaced a stored one, ended one whose cookie had already
 * expired, or wrote nothing because the session had been ended (destroyed, regenerated, revoked
 * or past `absoluteTimeoutMs`) since it was read.
 */
export type SetOutcome = 'created' | 'updated' | 'deleted' | 'refused';

/** The writes that an ended session refuses. */
export type RefusedOperation = 'set' | 'touch';

/** Callbacks of the repository's life that the store turns into events. */
export interface RepositoryListeners {
  /** A connection attempt succeeded: the first, or one after failed ones. Never after `close()`. */
  readonly connected?: (() => void) | undefined;
  /** A stored session could not be read; the read went on as if there were none. */
  readonly unreadable?: ((error: UnreadableSessionError) => void) | undefined;
  /** An index failed for a reason retrying does not cure (once per index); reads and writes go on. */
  readonly indexFailed?: ((error: IndexError) => void) | undefined;
  /** A timed sweep of expired sessions failed (once until one succeeds again). */
  readonly sweepFailed?: ((error: unknown) => void) | undefined;
  /** A `set` or `touch` wrote nothing: the session had ended since it was read. */
  readonly refused?: ((sid: string, operation: RefusedOperation) => void) | undefined;
}
