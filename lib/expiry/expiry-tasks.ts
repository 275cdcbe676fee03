/**
 * The expiry work that runs beside the requests: ensuring the TTL and unique indexes (retried
 * with backoff, reported once, never blocking reads and writes) and sweeping expired sessions on
 * a timer. It decides; the repository sends the commands, through the gate.
 */

import { IndexError, StoreClosedError } from '../errors/classes.js';
import { debug, described } from '../errors/debug.js';
import { isTransient, serverCode } from '../errors/driver-errors.js';
import { meansNoTtlIndexes, SERVER_CODES } from '../errors/server-codes.js';
import { warnOnce } from '../errors/warnings.js';
import type { AutoRemoveOption } from '../options/option-types.js';
import type { ExpiryPolicy, IndexSpec } from './expiry-policy.js';
import { CLOCK_REFRESH_MS } from './server-clock.js';

/**
 * `pending`: not yet settled (connecting, or retrying after a transient failure); `ensured`: the
 * index exists as wanted; `unsupported`: the backend has no TTL indexes; `failed`: see the
 * `IndexError` in `errors`; `disabled`: `manageIndexes: false`, or no TTL index wanted by
 * `autoRemove`; `not-needed`: no unique index with `idField: '_id'`.
 */
export type IndexState =
  | 'pending'
  | 'ensured'
  | 'unsupported'
  | 'failed'
  | 'disabled'
  | 'not-needed';

/** Where the store's indexes stand (`repository.indexes`, `repository.whenIndexed()`). */
export interface IndexStatus {
  /** The TTL index on the expiry field. */
  readonly ttl: IndexState;
  /** The unique index on a custom `idField`. */
  readonly unique: IndexState;
  /** Why an index is `failed`, each saying what to do. */
  readonly errors: readonly IndexError[];
}

/** The database work the tasks ask of the repository, each run through the gate. */
export interface ExpiryBackend {
  createIndex(spec: IndexSpec): Promise<void>;
  /** Changes the `expireAfterSeconds` of an existing index on the spec's key (`collMod`). */
  changeExpireAfterSeconds(spec: IndexSpec): Promise<void>;
  /** Deletes expired sessions in bounded batches; resolves with how many. */
  deleteExpired(): Promise<number>;
  /** Measures the database server's clock again (server-clock.ts). */
  measureClock(): Promise<void>;
}

export interface ExpiryListeners {
  /** An index failed for a reason retrying does not cure; once per index. */
  readonly indexFailed?: ((error: IndexError) => void) | undefined;
  /** A timed sweep failed; once until a sweep succeeds again. */
  readonly sweepFailed?: ((error: unknown) => void) | undefined;
}

export interface ExpiryTaskOptions {
  readonly manageIndexes: boolean;
  /** The unique index on a custom `idField`, if any. */
  readonly uniqueIndex: IndexSpec | undefined;
  readonly sweepIntervalMs: number;
}

const FIRST_RETRY_MS = 1_000;
const LAST_RETRY_MS = 60_000;
export const TTL_FALLBACK_WARNING_CODE = 'SESSION_STORE_TTL_UNSUPPORTED';

type IndexKind = 'ttl' | 'unique';

export class ExpiryTasks {
  readonly #policy: ExpiryPolicy;
  readonly #options: ExpiryTaskOptions;
  readonly #backend: ExpiryBackend;
  readonly #listeners: ExpiryListeners;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #waiters = new Set<(status: IndexStatus) => void>();
  #status: IndexStatus;
  #autoRemove: AutoRemoveOption;
  #started = false;
  #closed = false;
  #sweeping: Promise<number> | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #clockTimer: NodeJS.Timeout | undefined;
  #sweepFailureReported = false;
  /** Settles once the unique index has been tried (or is not wanted): see `uniqueIndexTried`. */
  readonly #uniqueTried: Promise<void>;
  #markUniqueTried: () => void = () => {};

  constructor(
    policy: ExpiryPolicy,
    options: ExpiryTaskOptions,
    backend: ExpiryBackend,
    listeners: ExpiryListeners = {},
  ) {
    this.#policy = policy;
    this.#options = options;
    this.#backend = backend;
    this.#listeners = listeners;
    this.#autoRemove = policy.autoRemoveAsked;
    const managed = (spec: IndexSpec | undefined, none: IndexState): IndexState =>
      spec === undefined ? none : options.manageIndexes ? 'pending' : 'disabled';
    this.#status = Object.freeze({
      ttl: managed(policy.ttlIndex, 'disabled'),
      unique: managed(options.uniqueIndex, 'not-needed'),
      errors: Object.freeze([]),
    });
    this.#uniqueTried = new Promise((resolve) => {
      this.#markUniqueTried = resolve;
    });
    if (this.#status.unique !== 'pending') this.#markUniqueTried();
  }

  /**
   * Settles once the first attempt at the unique index has ended, however it ended (at once when
   * there is none to create). Writes that may insert wait for it, so that saves racing at start-up
   * cannot store one session twice; reads never wait.
   */
  uniqueIndexTried(): Promise<void> {
    return this.#uniqueTried;
  }

  /** Who deletes expired sessions now: the mode asked for, or `'interval'` where TTL indexes are missing. */
  get autoRemoveInEffect(): AutoRemoveOption {
    return this.#autoRemove;
  }

  get indexes(): IndexStatus {
    return this.#status;
  }

  /** Resolves once no index is `pending` any more, or the repository closes. Never rejects. */
  whenIndexed(): Promise<IndexStatus> {
    if (this.#settled()) return Promise.resolve(this.#status);
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  /** Called on every successful connection; the work starts on the first. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    const { uniqueIndex } = this.#options;
    const ttl = this.#policy.ttlIndex;
    if (this.#status.ttl === 'pending' && ttl !== undefined) void this.#ensure('ttl', ttl);
    if (this.#status.unique === 'pending' && uniqueIndex !== undefined) {
      void this.#ensure('unique', uniqueIndex);
    }
    if (this.#autoRemove === 'interval') this.#scheduleSweep();
    this.#scheduleClock();
  }

  /** Deletes expired sessions now; one sweep at a time: a call during a sweep runs after it. */
  sweep(): Promise<number> {
    const previous = this.#sweeping ?? Promise.resolve(0);
    const next = previous.catch(() => 0).then(() => this.#backend.deleteExpired());
    this.#sweeping = next;
    const clear = () => {
      if (this.#sweeping === next) this.#sweeping = undefined;
    };
    next.then(clear, clear);
    return next;
  }

  /** Stops the timers; anyone waiting for the indexes gets the status as it stands. */
  close(): void {
    this.#closed = true;
    this.#markUniqueTried();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (this.#sweepTimer !== undefined) clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    if (this.#clockTimer !== undefined) clearTimeout(this.#clockTimer);
    this.#clockTimer = undefined;
    this.#wake(true);
  }

  async #ensure(kind: IndexKind, spec: IndexSpec): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt += 1) {
      try {
        await this.#backend.createIndex(spec);
        debug('%s index on %s ensured', kind, fieldOf(spec));
        this.#set(kind, 'ensured');
        return;
      } catch (error) {
        if (this.#closed || error instanceof StoreClosedError) return;
        const settled = await this.#settle(kind, spec, error);
        if (settled) return;
      } finally {
        if (kind === 'unique') this.#markUniqueTried();
      }
      const delayMs = Math.min(FIRST_RETRY_MS * 2 ** attempt, LAST_RETRY_MS);
      debug('%s index: retrying in %d ms', kind, delayMs);
      await this.#delay(delayMs);
    }
  }

  /** Decides what a failed `createIndex` means; `false` when it is worth another try. */
  async #settle(kind: IndexKind, spec: IndexSpec, error: unknown): Promise<boolean> {
    debug('%s index on %s failed: %s', kind, fieldOf(spec), described(error));
    if (retryable(error)) return false;
    const code = serverCode(error) as number;
    if (kind === 'ttl' && code === SERVER_CODES.IndexOptionsConflict) return this.#changeTtl(spec);
    if (kind === 'ttl') {
      // Without the TTL index nothing deletes expired sessions: the store does it itself.
      const unsupported = meansNoTtlIndexes(code);
      this.#fallBackToInterval(unsupported);
      if (unsupported) {
        this.#set('ttl', 'unsupported');
        return true;
      }
    }
    this.#fail(kind, problem(kind, spec, code), error);
    return true;
  }

  /** An index on the expiry field exists with other options: change it in place. */
  async #changeTtl(spec: IndexSpec): Promise<boolean> {
    try {
      await this.#backend.changeExpireAfterSeconds(spec);
      debug('ttl index on %s: expireAfterSeconds changed in place (collMod)', fieldOf(spec));
      this.#set('ttl', 'ensured');
      return true;
    } catch (error) {
      if (this.#closed || error instanceof StoreClosedError) return true;
      if (retryable(error)) return false;
      const field = fieldOf(spec);
      this.#fail(
        'ttl',
        `An index on \`${field}\` exists with other options and the store may not change it (collMod refused): drop it with \`db.<collection>.dropIndex({ ${field}: 1 })\` and the store creates the TTL index again, or set \`manageIndexes: false\` and manage it yourself`,
        error,
      );
      return true;
    }
  }

  /**
   * The store deletes expired sessions itself; on servers without TTL indexes (FerretDB 1.x) it
   * says so once, otherwise the `IndexError` reported says why.
   */
  #fallBackToInterval(announce: boolean): void {
    if (this.#autoRemove !== 'native') return;
    debug(
      "no ttl index: autoRemove falls back to 'interval', sweeping every %d ms",
      this.#options.sweepIntervalMs,
    );
    this.#autoRemove = 'interval';
    this.#scheduleSweep();
    if (!announce) return;
    warnOnce(
      "connect-mongodb-session: this server has no TTL indexes, so `autoRemove: 'native'` falls back to 'interval': the store deletes expired sessions itself every `autoRemoveIntervalMs`",
      TTL_FALLBACK_WARNING_CODE,
    );
  }

  #scheduleSweep(): void {
    if (this.#closed || this.#sweepTimer !== undefined) return;
    this.#sweepTimer = setTimeout(() => {
      void this.#timedSweep();
    }, this.#options.sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  /** The server's clock is read again every `CLOCK_REFRESH_MS`; a failed reading keeps the last. */
  #scheduleClock(): void {
    if (this.#closed) return;
    this.#clockTimer = setTimeout(() => {
      this.#backend
        .measureClock()
        .catch((error: unknown) => debug('clock: reading it again failed: %s', described(error)))
        .finally(() => this.#scheduleClock());
    }, CLOCK_REFRESH_MS);
    this.#clockTimer.unref();
  }

  /** One timed sweep, then the next one interval after it ends: sweeps never overlap. */
  async #timedSweep(): Promise<void> {
    const startedAt = Date.now();
    try {
      const deleted = await this.sweep();
      debug('sweep deleted %d expired sessions in %d ms', deleted, Date.now() - startedAt);
      this.#sweepFailureReported = false;
    } catch (error) {
      const closing = this.#closed || error instanceof StoreClosedError;
      if (!closing) debug('sweep failed after %d ms: %s', Date.now() - startedAt, described(error));
      if (!closing && !this.#sweepFailureReported) {
        this.#sweepFailureReported = true;
        this.#listeners.sweepFailed?.(error);
      }
    } finally {
      this.#sweepTimer = undefined;
      this.#scheduleSweep();
    }
  }

  #fail(kind: IndexKind, message: string, cause: unknown): void {
    debug('%s index: given up (reported as IndexError)', kind);
    const error = new IndexError(kind, message, cause);
    this.#set(kind, 'failed', error);
    this.#listeners.indexFailed?.(error);
  }

  #set(kind: IndexKind, state: IndexState, error?: IndexError): void {
    const errors = error === undefined ? this.#status.errors : [...this.#status.errors, error];
    this.#status = Object.freeze({ ...this.#status, [kind]: state, errors: Object.freeze(errors) });
    this.#wake(false);
  }

  #settled(): boolean {
    return this.#status.ttl !== 'pending' && this.#status.unique !== 'pending';
  }

  #wake(always: boolean): void {
    if (!always && !this.#settled()) return;
    for (const resolve of this.#waiters) resolve(this.#status);
    this.#waiters.clear();
  }

  /** A pause between retries that `close()` cuts short and that keeps no process alive. */
  #delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      timer.unref();
      this.#timers.add(timer);
    });
  }
}

/** Index work is retried on what may pass (a dropped connection, a stepping-down primary, a timeout). */
function retryable(error: unknown): boolean {
  return serverCode(error) === undefined || isTransient(error, 'index');
}

function fieldOf(spec: IndexSpec): string {
  return Object.keys(spec.key)[0] ?? '';
}

/** What the user must do about an index the server refused, in words that quote no data. */
function problem(kind: IndexKind, spec: IndexSpec, code: number): string {
  const meanwhile =
    kind === 'ttl'
      ? '; meanwhile the store deletes expired sessions itself (`autoRemove` is now `interval`)'
      : '';
  return `${refusal(kind, fieldOf(spec), code)}${meanwhile}`;
}

function refusal(kind: IndexKind, field: string, code: number): string {
  const what =
    kind === 'ttl' ? `the TTL index on \`${field}\`` : `the unique index on \`${field}\``;
  switch (code) {
    case SERVER_CODES.BadValue:
      if (kind === 'ttl') {
        return `Could not create ${what}: the server refused the option (Azure Cosmos DB allows a TTL index only on \`_ts\`: set \`expiresKey: '_ts'\`)`;
      }
      return `Could not create ${what}: the server refused it; create it yourself and set \`manageIndexes: false\``;
    case SERVER_CODES.Unauthorized:
      return `Could not create ${what}: the database user may not create indexes; create it yourself and set \`manageIndexes: false\``;
    case SERVER_CODES.IndexOptionsConflict:
      return `Could not create ${what}: an index on \`${field}\` exists with other options; drop it with \`db.<collection>.dropIndex({ ${field}: 1 })\` and the store creates the right one`;
    case SERVER_CODES.IndexKeySpecsConflict:
      return `Could not create ${what}: an index named \`${field}_1\` exists with another key; drop it with \`db.<collection>.dropIndex('${field}_1')\` and the store creates the right one`;
    case SERVER_CODES.DuplicateKey:
      return `Could not create ${what}: the collection holds documents with the same \`${field}\`; remove the duplicates and restart, until then concurrent saves of one new session may store it twice`;
    default:
      return kind === 'unique'
        ? `Could not create ${what}: the server refused it (documents with the same \`${field}\` are a likely cause); remove any duplicates and restart, or create the index yourself and set \`manageIndexes: false\``
        : `Could not create ${what}: the server refused it; create it yourself and set \`manageIndexes: false\`, or use \`autoRemove: 'interval'\``;
  }
}
