const warned = new Set<string>();

/** `code` of the process warning for a listener of the store's events that threw or rejected. */
export const LISTENER_ERROR_WARNING_CODE = 'SESSION_STORE_LISTENER_ERROR';

/**
 * A process warning, once per process for each text: a store is often built more than once, and
 * a listener that throws often throws on every request. `hidden`, when given, is reachable as a
 * property of the warning (`warning.listenerError` …) for whoever handles `process.on('warning')`,
 * and not enumerable, so that neither Node's printer nor `util.inspect` shows it.
 */
export function warnOnce(
  message: string,
  code: string,
  type = 'Warning',
  hidden?: Readonly<Record<string, unknown>>,
): void {
  if (warned.has(message)) return;
  warned.add(message);
  if (hidden === undefined) {
    process.emitWarning(message, { type, code });
    return;
  }
  const warning = Object.assign(new Error(message), { name: type, code });
  for (const [key, value] of Object.entries(hidden)) {
    Object.defineProperty(warning, key, { value });
  }
  process.emitWarning(warning);
}
