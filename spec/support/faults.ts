/** Small helpers shared by the fault specs. */
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { SessionStoreError } from '../../lib/index.js';

/** Slack for timing bounds on a shared two-core machine: deadlines fire late under load. */
export const TIMING_MARGIN_MS = 1_500;

/** Runs `action` and returns its outcome and how long it took, never throwing. */
export async function timed<T>(
  action: () => Promise<T>,
): Promise<{ readonly ms: number } & ({ ok: true; value: T } | { ok: false; error: unknown })> {
  const started = performance.now();
  try {
    const value = await action();
    return { ok: true, value, ms: performance.now() - started };
  } catch (error) {
    return { ok: false, error, ms: performance.now() - started };
  }
}

/** Asserts that `error` is one of the store's errors, with one of `codes` if given. */
export function assertStoreError(error: unknown, codes?: readonly string[]): SessionStoreError {
  assert.ok(
    error instanceof SessionStoreError,
    `expected a SessionStoreError, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
  );
  if (codes !== undefined) {
    assert.ok(
      codes.includes(error.code),
      `expected code ${codes.join(' or ')}, got ${error.code} (${error.name}: ${error.message})`,
    );
  }
  return error;
}

/** Counts the emissions of each named event of `emitter`, with the time of the first. */
export function countEvents(emitter: EventEmitter, names: readonly string[]) {
  const counts = new Map<string, number>();
  const firstAt = new Map<string, number>();
  const payloads = new Map<string, unknown[]>();
  for (const name of names) {
    counts.set(name, 0);
    payloads.set(name, []);
    emitter.on(name, (payload: unknown) => {
      counts.set(name, (counts.get(name) ?? 0) + 1);
      if (!firstAt.has(name)) firstAt.set(name, performance.now());
      payloads.get(name)?.push(payload);
    });
  }
  return {
    count: (name: string) => counts.get(name) ?? 0,
    firstAt: (name: string) => firstAt.get(name),
    payloads: (name: string): readonly unknown[] => payloads.get(name) ?? [],
  };
}

/** Resolves once `condition()` holds; rejects with `message` after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  timeoutMs: number,
  message: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${message} (waited ${timeoutMs} ms)`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Rounds milliseconds for a diagnostic line. */
export function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

/** A session of the fault specs: a counter, and a cookie that expires in an hour. */
export interface CountedSession {
  n: number;
  cookie: { expires: Date };
}

export function sessionFor(n: number): CountedSession {
  return { n, cookie: { expires: new Date(Date.now() + 60 * 60 * 1000) } };
}
