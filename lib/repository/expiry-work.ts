/**
 * The expiry work beside the requests, wired to the gate: the index and sweep tasks
 * (expiry/expiry-tasks.ts decides them), whose commands pass the gate like any other operation,
 * and the reading of the server's clock (expiry/server-clock.ts), at every connection and then on
 * the tasks' timer. The repository starts the tasks once connected and stops them on `close`.
 */
import type { Collection } from 'mongodb';
import type { SessionDocument } from '../codec/session-types.js';
import { debug, described } from '../errors/debug.js';
import type { IndexSpec } from '../expiry/expiry-policy.js';
import { type ExpiryListeners, ExpiryTasks } from '../expiry/expiry-tasks.js';
import type { ServerClock } from '../expiry/server-clock.js';
import { deleteInBatches } from './bulk-operations.js';
import type { RepositoryParts } from './repository-parts.js';

/**
 * The index and sweep tasks. Index commands go through the gate as they are, so that the tasks
 * see the driver's error and decide on its code; the sweep's steps are operations (bulk-operations.ts).
 */
export function createExpiryTasks(
  { options, expiry, gate, operations }: RepositoryParts,
  listeners: ExpiryListeners,
): ExpiryTasks {
  const { idField, manageIndexes, autoRemoveIntervalMs } = options;
  const uniqueIndex: IndexSpec | undefined =
    idField === '_id' ? undefined : { key: { [idField]: 1 }, options: { unique: true } };
  return new ExpiryTasks(
    expiry,
    { manageIndexes, uniqueIndex, sweepIntervalMs: autoRemoveIntervalMs },
    {
      createIndex: ({ key, options: indexOptions }) =>
        gate.run('createIndex', async (sessions) => {
          await sessions.createIndex(key, indexOptions);
        }),
      changeExpireAfterSeconds: ({ key, options: indexOptions }) =>
        gate.run('collMod', async (sessions) => {
          await sessions.db.command({
            collMod: sessions.collectionName,
            index: { keyPattern: key, ...indexOptions },
          });
        }),
      deleteExpired: async () => {
        // What has expired is reckoned once the server's clock has been read.
        await gate.whenOpen();
        return deleteInBatches(expiry.expired(), (step) => operations.run('deleteExpired', step));
      },
      measureClock: () => gate.run('hello', (sessions) => measureClock(sessions, expiry.clock)),
    },
    listeners,
  );
}

/**
 * Reads the server's clock once connected, before any operation: expiry is decided in the
 * server's time from the first one on. Never rejects: a failed reading keeps the offset as it was.
 */
export async function startClock(
  sessions: Collection<SessionDocument>,
  clock: ServerClock,
): Promise<void> {
  await measureClock(sessions, clock).catch((error: unknown) => {
    debug('clock: hello failed (%s); the offset stays as it was', described(error));
  });
}

/** Reads the server's clock from `hello` (see server-clock.ts). */
async function measureClock(
  sessions: Collection<SessionDocument>,
  clock: ServerClock,
): Promise<void> {
  const sentAt = Date.now();
  const reply = await sessions.db.command({ hello: 1 });
  clock.observe(reply.localTime, sentAt, Date.now());
}
