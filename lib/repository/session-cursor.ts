/** Reading a cursor under a lease of the gate: every batch has the deadline, and `close()` ends it. */
import type { FindCursor } from 'mongodb';
import type { SessionDocument } from '../codec/session-types.js';
import { OperationTimeoutError } from '../errors/classes.js';
import { storeError } from '../errors/wrapping.js';
import type { Lease } from './connection-gate.js';
import { withDeadline } from './deadline.js';

/**
 * The cursor's documents; errors name the operation `name`. A reader paused at a `yield` when
 * the store closes finds the cursor closed for it, and its next step throws the lease's reason
 * (`StoreClosedError`), never ends silently.
 */
export async function* readCursor(
  cursor: FindCursor<SessionDocument>,
  lease: Lease<unknown>,
  timeoutMs: number,
  name: string,
): AsyncGenerator<SessionDocument, void, undefined> {
  const abandon = () => {
    cursor.close().catch(() => undefined);
    lease.release();
  };
  lease.signal.addEventListener('abort', abandon, { once: true });
  try {
    for (;;) {
      const next = cursor.next();
      const document = await withDeadline(
        next,
        timeoutMs,
        () => new OperationTimeoutError(name, timeoutMs),
      ).catch((error: unknown) => {
        next.catch(() => undefined);
        if (lease.signal.aborted) throw lease.signal.reason;
        throw storeError(error, { operation: name, timeoutMs });
      });
      // A cursor closed under it reads as exhausted: the reason must not be lost.
      if (lease.signal.aborted) throw lease.signal.reason;
      if (document === null) return;
      yield document;
      if (lease.signal.aborted) throw lease.signal.reason;
    }
  } finally {
    lease.signal.removeEventListener('abort', abandon);
    lease.release();
    await cursor.close().catch(() => undefined);
  }
}
