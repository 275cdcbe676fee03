const warned = new Set<string>();

/** A process warning, once per process for each text: a store is often built more than once. */
export function warnOnce(message: string, code: string, type = 'Warning'): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.emitWarning(message, { type, code });
}
