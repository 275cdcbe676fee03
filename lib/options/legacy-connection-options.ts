/**
 * `connectionOptions` written for MongoDB drivers 2 to 5, translated into options drivers 6 and 7
 * accept, or refused with what to write instead (see legacy-driver-options.ts for the names).
 */
import { describeValue, isPlainObject, setOwn } from '../support/values.js';
import { queryParameters } from './connection-string-query.js';
import {
  type ConnectionOptionsTranslation,
  dropRemoved,
  dropSuperseded,
  isRemoved,
  lastSpellings,
  newerNames,
  RENAMES,
  type Rename,
} from './legacy-driver-options.js';
import { shown } from './shown-names.js';

const NESTED_V3 =
  'a MongoDB driver 3 group of options, removed in driver 4. Expected its options at the top level of `connectionOptions`, under their current names (for example `server.poolSize` as `maxPoolSize`)';

/** Options that still mean something the drivers can do, but not under a name this module can map. */
const REFUSED: ReadonlyMap<string, string> = new Map([
  [
    'sslcert',
    'removed in MongoDB driver 6. Expected the certificate’s contents as `cert` and the key’s as `key`, or the path of one PEM file holding both as `tlsCertificateKeyFile`',
  ],
  [
    'sslkey',
    'removed in MongoDB driver 6. Expected the key’s contents as `key` and the certificate’s as `cert`, or the path of one PEM file holding both as `tlsCertificateKeyFile`',
  ],
  [
    'tlscertificatefile',
    'removed in MongoDB driver 6. Expected the path of one PEM file holding certificate and key as `tlsCertificateKeyFile`, or their contents as `cert` and `key`',
  ],
  ['server', NESTED_V3],
  ['replset', NESTED_V3],
  ['mongos', NESTED_V3],
  ['db', NESTED_V3],
]);

/**
 * Translates `connectionOptions` written for drivers 2 to 5 into options drivers 6 and 7 accept.
 * Names match in any letter case, as the driver's do (the last spelling wins); an option whose value
 * is `null` or `undefined` is kept as it is, since the driver ignores it; anything unknown here
 * passes through for the driver to judge. When an old name and its new name are both given, the
 * new one wins. `uri`, if given, counts as giving the options in its query.
 * @throws {TypeError} for an option that was removed with its behaviour, naming what to use instead.
 */
export function translateConnectionOptions(
  options: Record<string, unknown>,
  uri?: string,
): ConnectionOptionsTranslation {
  const given = lastSpellings(options);
  const query = uri === undefined ? new Map<string, string>() : queryParameters(uri);
  const isGiven = (name: string) => given.has(name.toLowerCase()) || query.has(name.toLowerCase());
  refuseRemovedWithBehaviour(given);

  const out: Record<string, unknown> = {};
  const result: ConnectionOptionsTranslation = {
    options: out,
    dropped: [],
    renamed: [],
    notes: [],
  };
  const supersede = (old: string, by: string) => dropSuperseded(result, old, by);
  let serviceName: [key: string, value: unknown] | undefined;

  for (const [key, value] of Object.entries(options)) {
    const lower = key.toLowerCase();
    if (value === null || value === undefined) {
      // Kept, unless a translated option of the same name is already there.
      if (!Object.hasOwn(out, key)) setOwn(out, key, value);
    } else if (isRemoved(lower) || isLegacy(lower, value, options)) {
      if (given.get(lower)?.[0] !== key) {
        // The driver reads only the last spelling of a name.
        result.dropped.push(key);
        result.notes.push(`\`${shown(key)}\` was dropped because a later spelling of it is given`);
      } else if (isRemoved(lower)) {
        dropRemoved(result, key, value === false);
      } else if (lower === 'gssapiservicename') {
        serviceName = [key, value];
      } else if (lower === 'compression') {
        flattenCompression(value as Record<string, unknown>, out, result, isGiven, supersede);
      } else if (lower === 'user') {
        const password = given.get('password');
        const newer = isGiven('auth') ? 'auth' : undefined;
        if (newer !== undefined) {
          supersede(key, newer);
          if (password !== undefined) supersede(password[0], newer);
        } else {
          setOwn(out, 'auth', { username: value, password: password?.[1] });
          result.renamed.push([key, 'auth.username']);
          if (password !== undefined) result.renamed.push([password[0], 'auth.password']);
        }
      } else if (lower === 'password') {
        // Moved (or dropped) together with `user`.
      } else if (lower === 'auth') {
        setOwn(out, key, renameAuthUser(value as Record<string, unknown>, result));
      } else {
        const rename = RENAMES.get(lower) as Rename;
        const to = renamedTo(rename, value) as string;
        const newer = newerNames(rename, rename.contents ?? rename.to).find(isGiven);
        if (newer !== undefined) supersede(key, newer);
        else {
          setOwn(out, to, value);
          result.renamed.push([key, to]);
        }
      }
    } else {
      setOwn(out, key, value);
    }
  }
  if (serviceName !== undefined) mergeServiceName(serviceName, out, query, result);
  return result;
}

/** Whether a (non-null) option is one of the translated forms, rather than one to pass through. */
function isLegacy(lower: string, value: unknown, options: Record<string, unknown>): boolean {
  if (lower === 'compression') return isPlainObject(value);
  if (lower === 'user') return true;
  // A password alone has no user to pair with: left for the driver to report.
  if (lower === 'password') return lastSpellings(options).has('user');
  if (lower === 'auth') return isPlainObject(value) && value.user != null;
  if (lower === 'gssapiservicename') return true;
  const rename = RENAMES.get(lower);
  return rename !== undefined && renamedTo(rename, value) !== undefined;
}

/**
 * The new name of a renamed option for its value: a certificate (list) given as contents goes to
 * `contents` (`ca`, `crl`), a string without PEM armour is a path (`to`); `undefined` leaves a
 * value of another type for the driver to judge.
 */
function renamedTo(rename: Rename, value: unknown): string | undefined {
  if (rename.contents === undefined) return rename.to;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array || Array.isArray(value)) {
    return rename.contents;
  }
  if (typeof value !== 'string') return undefined;
  return value.includes('-----BEGIN') ? rename.contents : rename.to;
}

function refuseRemovedWithBehaviour(given: Map<string, [string, unknown]>): void {
  for (const [lower, [key, value]] of given) {
    const instead = REFUSED.get(lower);
    if (instead === undefined) continue;
    throw new TypeError(
      `Unsupported \`connectionOptions.${shown(key)}\` (${describeValue(value)}): ${instead}`,
    );
  }
}

/** Driver 3's `compression: { compressors, zlibCompressionLevel }` became two top-level options. */
function flattenCompression(
  compression: Record<string, unknown>,
  out: Record<string, unknown>,
  result: ConnectionOptionsTranslation,
  isGiven: (name: string) => boolean,
  supersede: (old: string, by: string) => void,
): void {
  for (const [key, value] of Object.entries(compression)) {
    const old = `compression.${key}`;
    const to = ['compressors', 'zlibCompressionLevel'].find(
      (name) => name.toLowerCase() === key.toLowerCase(),
    );
    if (value === null || value === undefined) continue;
    if (to === undefined) {
      result.dropped.push(old);
      result.notes.push(`\`${shown(old)}\` has no equivalent`);
    } else if (isGiven(to)) supersede(old, to);
    else {
      setOwn(out, to, value);
      result.renamed.push([old, to]);
    }
  }
}

/** Driver 3's `auth: { user, password }` is `auth: { username, password }` since driver 4. */
function renameAuthUser(
  auth: Record<string, unknown>,
  result: ConnectionOptionsTranslation,
): Record<string, unknown> {
  const renamed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(auth)) if (key !== 'user') setOwn(renamed, key, value);
  if (auth.username != null) {
    dropSuperseded(result, 'auth.user', 'auth.username');
  } else {
    setOwn(renamed, 'username', auth.user);
    result.renamed.push(['auth.user', 'auth.username']);
  }
  return renamed;
}

/** `gssapiServiceName` became the `SERVICE_NAME` property of `authMechanismProperties`. */
function mergeServiceName(
  [key, value]: [string, unknown],
  out: Record<string, unknown>,
  query: Map<string, string>,
  result: ConnectionOptionsTranslation,
): void {
  const to = 'authMechanismProperties.SERVICE_NAME';
  const propertiesKey = Object.keys(out).find(
    (name) => name.toLowerCase() === 'authmechanismproperties' && out[name] != null,
  );
  const properties = propertiesKey === undefined ? undefined : out[propertiesKey];
  const inUri = /(^|,)SERVICE_NAME:/.test(query.get('authmechanismproperties') ?? '');
  if (
    inUri ||
    (isPlainObject(properties) && properties.SERVICE_NAME != null) ||
    (typeof properties === 'string' && /(^|,)SERVICE_NAME:/.test(properties))
  ) {
    dropSuperseded(result, key, to);
  } else if (properties === undefined || propertiesKey === undefined) {
    setOwn(out, 'authMechanismProperties', { SERVICE_NAME: value });
    result.renamed.push([key, to]);
  } else if (isPlainObject(properties)) {
    setOwn(out, propertiesKey, { ...properties, SERVICE_NAME: value });
    result.renamed.push([key, to]);
  } else if (typeof properties === 'string' && typeof value === 'string') {
    setOwn(out, propertiesKey, `${properties},SERVICE_NAME:${value}`);
    result.renamed.push([key, to]);
  } else {
    // Properties of a form the driver refuses anyway: leave both for it to report.
    setOwn(out, key, value);
  }
}
