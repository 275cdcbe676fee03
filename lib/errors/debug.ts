/**
 * Debug logging: `NODE_DEBUG=connect-mongodb-session` prints what the store decides and why
 * (connecting, indexes, fallbacks, retries, sweeps, closing) on stderr. Node's own `debuglog`,
 * so no dependency, and nothing is formatted while it is off. Lines never hold session data,
 * session ids or connection strings (which can hold passwords): errors appear as their class and
 * code only.
 */
import { debuglog } from 'node:util';
import { driverSummary } from './redaction.js';

export const debug = debuglog('connect-mongodb-session');

/** `error` and the errors it wraps, each as `Name (code N)`, for a debug line. */
export function described(error: unknown): string {
  const chain: string[] = [];
  for (let each = error; each !== undefined && chain.length < 3; ) {
    chain.push(driverSummary(each));
    each = each instanceof Error ? each.cause : undefined;
  }
  return chain.join(' ← ');
}
