/**
 * How a session's life shows in its stored document: the audit times written beside it in clear
 * (`createdAt`, `lastModified`), and what an ended session leaves behind. Ending a session turns
 * its document into a tombstone, `{ <idField>: id, session: null, endedAt, <expiry field>: end
 * of the window }` (a `null` session, which version 5 and connect-mongo read as no session),
 * which no read sees and no write of the id gets past: writes of a live session only match
 * documents without `endedAt`, so an upsert that meets a tombstone tries to insert the id again
 * and the id's unique index refuses it (E11000). Plain functions of the resolved options: the
 * repository sends the queries, and only it and this module know tombstones exist.
 */
import { createHash } from 'node:crypto';
import type { Document, Filter, UpdateFilter } from 'mongodb';
import { CREATED_AT, ENDED_AT, LAST_MODIFIED } from '../options/document-fields.js';

/**
 * Cosmos DB's per-document time to live, in seconds, which overrides the TTL of the collection's
 * index on `_ts` (the session lifetime there): a tombstone lives for its window, not for that.
 */
const COSMOS_DOCUMENT_TTL = 'ttl';

/** What `SessionLifecycle` needs of the expiry policy (expiry/expiry-policy.ts): where the expiry goes, and the clock. */
export interface ExpiryFields {
  /** Whether this is the Cosmos DB mode, where the TTL index is on `_ts`. */
  readonly cosmos: boolean;
  expiryFields(expires: Date): Document;
  /** The database server's clock. */
  readonly clock: { now(): number };
}

/** What `SessionLifecycle` reads of the resolved options. */
export interface LifecycleOptions {
  readonly idField: string;
  readonly terminationWindowMs: number;
  readonly absoluteTimeoutMs: number | undefined;
}

export class SessionLifecycle {
  /** The field holding the stored id. */
  readonly idField: string;
  readonly #expiry: ExpiryFields;
  readonly #windowMs: number;
  readonly #absoluteMs: number | undefined;

  constructor(options: LifecycleOptions, expiry: ExpiryFields) {
    this.idField = options.idField;
    this.#expiry = expiry;
    this.#windowMs = options.terminationWindowMs;
    this.#absoluteMs = options.absoluteTimeoutMs;
  }

  /**
   * `filter`, restricted to sessions that have not ended: no tombstone and, with an absolute
   * lifetime, none first written before its start. A document written before the audit times
   * existed has no `createdAt` and counts as young (its clock starts at its next write).
   */
  live(filter: Filter<Document>, now: number): Filter<Document> {
    const live = this.notEnded(filter);
    if (this.#absoluteMs !== undefined) {
      live[CREATED_AT] = { $not: { $lte: new Date(now - this.#absoluteMs) } };
    }
    return live;
  }

  /** `filter`, restricted to documents that are not tombstones (a session too old is not one yet). */
  notEnded(filter: Filter<Document>): Filter<Document> {
    return { ...filter, [ENDED_AT]: { $exists: false } };
  }

  /** Now, in the database server's time: when an ending happens. */
  now(): number {
    return this.#expiry.clock.now();
  }

  /**
   * What a document read with the `projection` fields is: `'ended'`, a tombstone; `'outlived'`, a
   * session past its absolute lifetime, to be ended; or `'live'`.
   */
  state(document: Document, now: number): 'live' | 'ended' | 'outlived' {
    if (document[ENDED_AT] !== undefined) return 'ended';
    const created: unknown = document[CREATED_AT];
    const outlived =
      this.#absoluteMs !== undefined &&
      created instanceof Date &&
      created.getTime() <= now - this.#absoluteMs;
    return outlived ? 'outlived' : 'live';
  }

  /** What a read brings along so that `ended` can decide. */
  get projection(): Document {
    return { [ENDED_AT]: 1, [CREATED_AT]: 1 };
  }

  /**
   * The audit times a write or touch of a live session adds: `lastModified` moves to now, and
   * `createdAt` is set once (`$min` leaves an earlier one, and gives one to a document that
   * had none).
   */
  written(now: number): { readonly $set: Document; readonly $min: Document } {
    const at = new Date(now);
    return { $set: { [LAST_MODIFIED]: at }, $min: { [CREATED_AT]: at } };
  }

  /**
   * The update that turns a document into a tombstone, or (with `upsert`) creates one for an id
   * never stored: the session and its times go, the end of the window becomes its expiry, so the
   * TTL index or the sweep removes it like an expired session.
   */
  ending(now: number): UpdateFilter<Document> {
    return {
      $set: { session: null, ...this.#ended(now) },
      $unset: { [CREATED_AT]: '', [LAST_MODIFIED]: '' },
    };
  }

  /** The tombstone of `id` as a whole document, for an insert. */
  tombstone(id: string, now: number): Document {
    return { [this.idField]: id, session: null, ...this.#ended(now) };
  }

  /** A tombstone's fields: when it ended, and the end of the window as its expiry. */
  #ended(now: number): Document {
    const ended: Document = {
      [ENDED_AT]: new Date(now),
      ...this.#expiry.expiryFields(new Date(now + this.#windowMs)),
    };
    if (this.#expiry.cosmos) ended[COSMOS_DOCUMENT_TTL] = Math.ceil(this.#windowMs / 1000);
    return ended;
  }
}

/**
 * The handle `listWhere` gives for a session, which `destroyWhere(filter, { only })` accepts: a
 * digest of the stored key, so that a page may show it without showing a cookie (the stored key
 * is the session id itself unless `transformId` is set), and usable without the cookie it came
 * from. 128 bits of SHA-256, in base64url.
 */
export function handleOf(storedId: string): string {
  return createHash('sha256')
    .update(storedId, 'utf8')
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}
