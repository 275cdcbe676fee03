/**
 * The query of a connection string as the driver reads it: parameters split on `&`, names and
 * values decoded as `URLSearchParams` decodes them. Shared by the legacy-option translation and
 * the printing of connection strings without secrets.
 */

/** Where the query of `uri` starts (its `?`) and ends (a `#`, or the end); `undefined` without one. */
export function queryBounds(uri: string): { start: number; end: number } | undefined {
  const start = uri.indexOf('?');
  if (start === -1) return undefined;
  return { start, end: uri.includes('#', start) ? uri.indexOf('#', start) : uri.length };
}

/** The raw name of a `name=value` parameter (the whole parameter when it has no `=`). */
export function nameOf(parameter: string): string {
  const equals = parameter.indexOf('=');
  return equals === -1 ? parameter : parameter.slice(0, equals);
}

/** As `URLSearchParams` decodes; a malformed escape is left as written. */
export function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
}

/** Lower-cased parameter name → decoded value, the first spelling winning as in the driver. */
export function queryParameters(uri: string): Map<string, string> {
  const query = new Map<string, string>();
  const bounds = queryBounds(uri);
  if (bounds === undefined) return query;
  for (const parameter of uri.slice(bounds.start + 1, bounds.end).split('&')) {
    const rawName = nameOf(parameter);
    const lower = decoded(rawName).toLowerCase();
    if (!query.has(lower)) query.set(lower, decoded(parameter.slice(rawName.length + 1)));
  }
  return query;
}
