/**
 * The printed forms of the options: what `util.inspect` (and so `console.log`), `console.dir` and
 * `JSON.stringify` show of `repository.options` and `store.options`, credentials blanked. Reading
 * a property still gives the real value: the repository connects with `options.source`, and
 * version 5's users read `store.options.uri`.
 *
 * Two means, neither a proxy nor a missing field:
 * - each object gets a `toJSON` and a `util.inspect.custom`, neither enumerable, that answer with
 *   a copy of it, credentials blanked: what JSON, `console.log` and loggers print;
 * - each field that holds a secret (the connection string, the client, a password among the
 *   driver's options) is an enumerable getter, so that an inspector told to skip those hooks, as
 *   `console.dir` is, shows `[Getter]` rather than the value.
 * So `Object.keys`, spreading, `assert.deepEqual` and the driver (which reads the options with
 * `Object.entries`) see the options as before. Reading a field, or printing a field read
 * (`console.log(store.options.uri)`, `console.table`), gives the real value, as it must.
 */
import { inspect } from 'node:util';
import { withoutCredentials } from '../errors/redaction.js';
import { isPlainObject } from '../support/values.js';
import { decoded, queryBounds } from './connection-string-query.js';

/** What a blanked value shows as. */
const REDACTED = '<redacted>';

/** What a `MongoClient` shows as: its options hold the credentials it connects with. */
const CLIENT = '<MongoClient>';

/** Deeper than any options object nests; past it a value shows blanked, and is not copied. */
const MAX_DEPTH = 8;

/** The field of the options that holds the driver's options, where names tell the secrets. */
const DRIVER_OPTIONS = 'connectionOptions';

/** The fields of the options (resolved, and as `store.options` shows them) that hold a secret. */
const SECRET_FIELDS = ['uri', 'client'];

/**
 * `target` frozen, its connection string and client (where it has them) made enumerable getters,
 * with a `toJSON` and a `util.inspect.custom` that answer with a copy of it, credentials blanked.
 * Secrets are found by name only in the driver's options (see `isSecretName`): the store's own
 * names (`expiresKey`) are no secrets.
 */
export function frozenForPrinting<T extends object>(target: T): T {
  for (const field of SECRET_FIELDS) if (Object.hasOwn(target, field)) hide(target, field);
  return Object.freeze(withPrintingHooks(target, false));
}

/**
 * A copy of the driver's options for the client: the same values, but every field whose name
 * tells a secret (at any depth of plain objects) an enumerable getter, and printed (inspected,
 * serialised) with those fields blanked.
 */
export function printableDriverOptions<T extends object>(options: T): T {
  return withPrintingHooks(withSecretsHidden(options, 0) as T, true);
}

function withPrintingHooks<T extends object>(target: T, driverOptions: boolean): T {
  const blanked = () =>
    withoutSecrets(target, { depth: 0, byName: driverOptions, seen: new WeakSet() });
  Object.defineProperty(target, 'toJSON', { value: blanked });
  Object.defineProperty(target, inspect.custom, { value: blanked });
  return target;
}

/** Turns `target[field]` into an enumerable getter of its value. */
function hide(target: object, field: string): void {
  const value: unknown = (target as Record<string, unknown>)[field];
  if (value === undefined) return;
  Object.defineProperty(target, field, { get: () => value, enumerable: true, configurable: true });
}

/** A copy of a plain object, plain objects inside copied too, secret-named fields as getters. */
function withSecretsHidden(options: object, depth: number): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    const copied =
      typeof value === 'object' && value !== null && isPlainObject(value) && depth < MAX_DEPTH
        ? withSecretsHidden(value, depth + 1)
        : value;
    // `defineProperty`, so that a key such as `__proto__` stays a field of the copy.
    Object.defineProperty(copy, key, {
      value: copied,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    if (value != null && isSecretName(key)) hide(copy, key);
  }
  return copy;
}

/**
 * Whether an option of this name holds a secret: a password, a passphrase, a key, a token, a
 * secret or credentials (driver options, TLS options, `autoEncryption`'s KMS providers …), or
 * `authMechanismProperties` (`AWS_SESSION_TOKEN`). Letter case aside, as the driver reads names;
 * a name ending in `File` is a path (`tlsCertificateKeyFile`), and `bypass…` is no pass.
 */
function isSecretName(name: string): boolean {
  const lower = name.toLowerCase();
  if (lower === 'authmechanismproperties') return true;
  if (lower.endsWith('file')) return false;
  // `bypassAutoEncryption` is no pass; `keyVaultNamespace` names a collection.
  const words = lower.replaceAll('bypass', '').replaceAll('keyvault', '');
  return /pass|pwd|secret|token|key|pfx|credential/.test(words);
}

/**
 * A connection string as it may be printed: no user or password, and no value of a secret query
 * parameter (`tlsCertificateKeyFilePassword`, `authMechanismProperties` …). The userinfo runs to
 * the last `@` before the path, since the driver takes spaces and quotes in a password, where
 * `withoutCredentials` (made for connection strings quoted inside messages) stops.
 */
function connectionStringWithoutSecrets(uri: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(uri)?.[0];
  if (scheme === undefined) return withoutCredentials(uri);
  const authorityEnd = uri.slice(scheme.length).search(/[/?#]/);
  const authority =
    authorityEnd === -1
      ? uri.slice(scheme.length)
      : uri.slice(scheme.length, scheme.length + authorityEnd);
  const at = authority.lastIndexOf('@');
  const rest = uri.slice(scheme.length + authority.length);
  const hosts = at === -1 ? authority : `<credentials>@${authority.slice(at + 1)}`;
  return `${scheme}${hosts}${withoutSecretParameters(rest)}`;
}

/** The path, query and fragment of a connection string, secret parameters' values blanked. */
function withoutSecretParameters(rest: string): string {
  const bounds = queryBounds(rest);
  if (bounds === undefined) return rest;
  const { start, end } = bounds;
  const query = rest
    .slice(start + 1, end)
    .split('&')
    .map((parameter) => {
      const equals = parameter.indexOf('=');
      if (equals === -1) return parameter;
      const name = parameter.slice(0, equals);
      return isSecretName(decoded(name)) ? `${name}=${REDACTED}` : parameter;
    })
    .join('&');
  return `${rest.slice(0, start + 1)}${query}${rest.slice(end)}`;
}

/**
 * A copy of `value` for printing: plain objects and arrays copied, secret-named fields blanked,
 * connection strings (and any URL in a string) without credentials, clients named only; other
 * values (functions, `Buffer`s of certificates, `KeyObject`s, which never print their key, class
 * instances) kept as they are.
 */
function withoutSecrets(value: unknown, walk: Walk): unknown {
  if (typeof value === 'string') return connectionStringWithoutSecrets(value);
  if (typeof value !== 'object' || value === null) return value;
  if (isClient(value)) return CLIENT;
  if (!Array.isArray(value) && !isPlainObject(value)) return value;
  const { depth, byName, seen } = walk;
  if (seen.has(value) || depth >= MAX_DEPTH) return REDACTED;
  seen.add(value);
  const inner = (each: unknown, key?: string) =>
    withoutSecrets(each, { depth: depth + 1, byName: byName || key === DRIVER_OPTIONS, seen });
  const copy = Array.isArray(value)
    ? value.map((each) => inner(each))
    : copyOf(value, byName, inner);
  seen.delete(value);
  return copy;
}

/** A plain object's copy, each field through `inner`, or blanked when `byName` and its name is a secret's. */
function copyOf(
  value: object,
  byName: boolean,
  inner: (each: unknown, key: string) => unknown,
): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, each] of Object.entries(value)) {
    // `defineProperty`, so that a key such as `__proto__` stays a field of the copy.
    Object.defineProperty(copy, key, {
      value: byName && each != null && isSecretName(key) ? REDACTED : inner(each, key),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

/** Where a copy is in the walk: how deep, whether names tell secrets there, the objects above. */
interface Walk {
  readonly depth: number;
  readonly byName: boolean;
  readonly seen: WeakSet<object>;
}

/** A `MongoClient` of any copy of the driver, recognised by its methods. */
function isClient(value: object): boolean {
  const client = value as { db?: unknown; startSession?: unknown };
  return typeof client.db === 'function' && typeof client.startSession === 'function';
}
