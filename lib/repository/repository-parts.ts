/**
 * What a repository is made of, built once by its constructor and shared by the modules that do
 * its work (session-documents.ts, many-sessions.ts, expiry-work.ts).
 */
import type { Collection } from 'mongodb';
import { createSessionCodec, type SessionCodec } from '../codec/session-codec.js';
import { SessionLifecycle } from '../codec/session-ends.js';
import type { SessionDocument } from '../codec/session-types.js';
import { ExpiryPolicy } from '../expiry/expiry-policy.js';
import { ServerClock } from '../expiry/server-clock.js';
import type { ResolvedOptions } from '../options/options.js';
import { ConnectionGate } from './connection-gate.js';
import { Operations } from './operations.js';

export interface RepositoryParts {
  readonly options: ResolvedOptions;
  readonly codec: SessionCodec;
  /** What "expired" means, in the time of the server's clock (`expiry.clock`). */
  readonly expiry: ExpiryPolicy;
  readonly lifecycle: SessionLifecycle;
  /** Connects with `connect`, and calls `onOpen` on every connection (see `createParts`). */
  readonly gate: ConnectionGate<Collection<SessionDocument>>;
  readonly operations: Operations;
}

/**
 * The parts of a repository of `options`. Its gate connects with `connect` and calls `onOpen`
 * each time a connection attempt succeeds.
 */
export function createParts(
  options: ResolvedOptions,
  connect: () => Promise<Collection<SessionDocument>>,
  onOpen: () => void,
): RepositoryParts {
  const codec = createSessionCodec(options);
  const expiry = new ExpiryPolicy(options, new ServerClock());
  const lifecycle = new SessionLifecycle(options, expiry);
  const timeoutMs = options.operationTimeoutMs;
  const gate = new ConnectionGate(connect, {
    maxPending: options.maxPendingOperations,
    timeoutMs,
    onOpen,
  });
  return { options, codec, expiry, lifecycle, gate, operations: new Operations(gate, timeoutMs) };
}
