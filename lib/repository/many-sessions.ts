/**
 * The repository's operations over many sessions: counting, listing and reading them all (from a
 * cursor under a lease of the gate), and ending or deleting them in bounded steps
 * (bulk-operations.ts). `SessionRepository` documents each; this is how they run.
 */
import type { Document, Filter } from 'mongodb';
import { handleOf } from '../codec/session-ends.js';
import {
  type DestroyFilter,
  type DeviceSelection,
  handleSelection,
  type SessionPredicate,
  storedSessionFilter,
} from '../codec/session-filter.js';
import type {
  SessionDocument,
  SessionLike,
  SessionListing,
  StoredSession,
} from '../codec/session-types.js';
import { CREATED_AT, LAST_MODIFIED } from '../options/document-fields.js';
import {
  deleteInBatches,
  destroySelected,
  endIds,
  endListed,
  endMatching,
} from './bulk-operations.js';
import type { RepositoryParts } from './repository-parts.js';
import { readCursor } from './session-cursor.js';
import type { SessionDocuments } from './session-documents.js';

/** A session with the stored document it was read from. */
interface ScannedSession<T extends SessionLike> extends StoredSession<T> {
  readonly document: SessionDocument;
}

export class ManySessions<T extends SessionLike> {
  readonly #parts: RepositoryParts;
  readonly #documents: SessionDocuments<T>;

  constructor(parts: RepositoryParts, documents: SessionDocuments<T>) {
    this.#parts = parts;
    this.#documents = documents;
  }

  /** `SessionRepository.length`. */
  length(): Promise<number> {
    const { operations } = this.#parts;
    return operations.run('length', (sessions, limit) =>
      sessions.countDocuments(this.#documents.live({}), limit),
    );
  }

  /** `SessionRepository.ids`. */
  ids(): Promise<string[]> {
    const { operations, options } = this.#parts;
    const { idField } = options;
    const projection = idField === '_id' ? { _id: 1 } : { _id: 0, [idField]: 1 };
    return operations.run('ids', async (sessions, limit) => {
      const live = this.#documents.live({});
      const found = await sessions.find(live, { projection, ...limit }).toArray();
      return found.map((document) => String(document[idField]));
    });
  }

  /** `SessionRepository.all`. */
  all(): Promise<Array<StoredSession<T>>> {
    const { operations, codec } = this.#parts;
    return operations.run('all', async (sessions, limit) => {
      const live = this.#documents.live({});
      const found = await sessions.find(live, { ...codec.readOptions, ...limit }).toArray();
      return found.flatMap((document) => this.#documents.fromDocument(document));
    });
  }

  /** `SessionRepository.sessions`. */
  async *sessions(): AsyncGenerator<StoredSession<T>, void, undefined> {
    for await (const { id, session, expires } of this.#scan('sessions', {})) {
      yield { id, session, expires };
    }
  }

  /** `SessionRepository.listWhere`. */
  async listWhere(filter: DestroyFilter<T>): Promise<Array<SessionListing<T>>> {
    const { codec, expiry } = this.#parts;
    const predicate = typeof filter === 'function' ? filter : undefined;
    const query =
      predicate === undefined ? storedSessionFilter(filter, codec.query, 'listWhere') : {};
    const listed: Array<SessionListing<T>> = [];
    for await (const { id, session, document } of this.#scan('listWhere', query)) {
      if (predicate !== undefined && !(await predicate(session, id))) continue;
      listed.push({
        handle: handleOf(id),
        session,
        createdAt: dateOrNull(document[CREATED_AT]),
        lastActiveAt: dateOrNull(document[LAST_MODIFIED]),
        expires: document[expiry.dateField] as Date,
      });
    }
    return listed;
  }

  /** `SessionRepository.destroyWhere`. */
  async destroyWhere(filter: DestroyFilter<T>, selection?: DeviceSelection): Promise<number> {
    const { codec, gate, operations, lifecycle } = this.#parts;
    const chosen = handleSelection(selection);
    if (typeof filter === 'function' || chosen !== undefined) {
      const predicate = typeof filter === 'function' ? filter : undefined;
      const query = predicate === undefined ? storedSessionFilter(filter, codec.query) : undefined;
      return this.#endSelected(predicate, chosen, query ?? {});
    }
    const query = storedSessionFilter(filter, codec.query);
    await gate.whenOpen();
    return endMatching(
      this.#documents.live(query),
      (step) => operations.run('destroyWhere', step),
      lifecycle,
    );
  }

  /** `SessionRepository.destroy`, given the stored ids. */
  destroy(ids: readonly string[]): Promise<void> {
    const { operations, lifecycle } = this.#parts;
    return endIds(ids, (step) => operations.retried('destroy', step), lifecycle);
  }

  /** `SessionRepository.clear`: every document goes, in batches (see `deleteInBatches`). */
  async clear(): Promise<void> {
    await deleteInBatches({}, (step) => this.#parts.operations.run('clear', step));
  }

  /**
   * The unexpired sessions matching `query`, from a cursor under a lease, each with its stored
   * document; `name` names the operation in errors.
   */
  async *#scan(name: string, query: Filter<Document>): AsyncGenerator<ScannedSession<T>> {
    const { gate, codec, options } = this.#parts;
    const lease = await gate.lease(name);
    const cursor = lease.value.find(this.#documents.live(query), {
      batchSize: 500,
      ...codec.readOptions,
    });
    const { operationTimeoutMs } = options;
    for await (const document of readCursor(cursor, lease, operationTimeoutMs, name)) {
      for (const stored of this.#documents.fromDocument(document)) yield { ...stored, document };
    }
  }

  /**
   * `destroyWhere` by a predicate, by handles, or both, over the sessions `query` selects. The
   * lazy-touch memory is left as it is: it is keyed by session id, which a stored key under
   * `transformId` does not give back, and a remembered expiry of an ended session only spares a
   * touch that would have found nothing to update.
   */
  #endSelected(
    predicate: SessionPredicate<T> | undefined,
    chosen: ((handle: string) => boolean) | undefined,
    query: Filter<Document>,
  ): Promise<number> {
    const { operations, lifecycle } = this.#parts;
    const selects: SessionPredicate<T> = async (session, id) =>
      (chosen === undefined || chosen(handleOf(id))) &&
      (predicate === undefined || (await predicate(session, id)));
    return destroySelected(this.#scan('destroyWhere', query), selects, (ids) =>
      operations.retried('destroyWhere', (sessions, limit) =>
        endListed(sessions, ids, this.#documents.live({}), lifecycle, limit),
      ),
    );
  }
}

function dateOrNull(value: unknown): Date | null {
  return value instanceof Date ? value : null;
}
