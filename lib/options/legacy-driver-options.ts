/**
 * Configurations written for MongoDB drivers 2 to 5, recognised so that they keep working where
 * the meaning is unambiguous and fail with a message saying what to write instead where it is not.
 * Pure functions of the options: no I/O. The caller emits the warnings worded here. No message ever
 * holds an option's value (passwords, connection strings): names only.
 */

import { describeValue, isPlainObject, setOwn } from '../support/values.js';
import { list, shown } from './option-names.js';

/** What a translation changed, for the warning the caller emits. */
export interface LegacyTranslation {
  /** Names removed: options without effect in drivers 6 and 7, or old names whose new name is also given. */
  readonly dropped: string[];
  /** Old names and the names their values now go under. */
  readonly renamed: Array<[from: string, to: string]>;
  /** Sentences for the warning: why a name was dropped, or which setting cannot be honoured any more. */
  readonly notes: string[];
}

export interface ConnectionOptionsTranslation extends LegacyTranslation {
  /** The options to give `new MongoClient(uri, options)`. */
  readonly options: Record<string, unknown>;
}

export interface UriTranslation extends LegacyTranslation {
  /** The connection string, byte-identical but for the query parameters translated. */
  readonly uri: string;
}

/** `code` of the process warning for translated driver options. */
export const LEGACY_OPTION_WARNING_CODE = 'SESSION_STORE_LEGACY_OPTION';

/**
 * Options of drivers 2 to 5 that have no effect in drivers 6 and 7. Driver 7 refuses every one
 * of them (driver 6 only warns about the first two), so they are dropped.
 */
const REMOVED = [
  'useNewUrlParser',
  'useUnifiedTopology',
  'autoReconnect',
  'auto_reconnect',
  'reconnectTries',
  'reconnectInterval',
  'bufferMaxEntries',
  'ha',
  'haInterval',
  'secondaryAcceptableLatencyMS',
  'connectWithNoPrimary',
  'domainsEnabled',
  'validateOptions',
  'numberOfRetries',
  'useRecoveryToken',
  'native_parser',
  // Mongoose's, never the driver's; copied into driver options all the same.
  'useCreateIndex',
  'useFindAndModify',
  'promiseLibrary',
  'logger',
  'loggerLevel',
  'keepAlive',
];
const REMOVED_NAMES = new Map(REMOVED.map((name) => [name.toLowerCase(), name]));

/** Settings whose `false` asked for a behaviour drivers 4 and later no longer offer. */
const UNHONOURED_WHEN_FALSE: Readonly<Record<string, string>> = {
  keepalive:
    'TCP keep-alive is always on since MongoDB driver 6, so `keepAlive: false` cannot be honoured',
  autoreconnect:
    'the client always reconnects since MongoDB driver 4, so `autoReconnect: false` cannot be honoured',
  auto_reconnect:
    'the client always reconnects since MongoDB driver 4, so `auto_reconnect: false` cannot be honoured',
};

interface Rename {
  /** The new name for this value, or `undefined` to leave the option for the driver to judge. */
  readonly to: (value: unknown) => string | undefined;
  /** Names that, when given too, win over the old one (it is then dropped). */
  readonly newer: readonly string[];
}

const always = (to: string) => (): string => to;

/** A certificate (list) given as contents goes to `ca`/`crl`; a string without PEM armour is a path. */
const contentsOrFile = (contents: string, file: string) => (value: unknown) => {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array || Array.isArray(value)) {
    return contents;
  }
  if (typeof value !== 'string') return undefined;
  return value.includes('-----BEGIN') ? contents : file;
};

/** Connection option names that drivers 6 and 7 accept under another name, with the same value. */
const RENAMES: ReadonlyMap<string, Rename> = new Map([
  ['poolsize', { to: always('maxPoolSize'), newer: ['maxPoolSize'] }],
  ['minsize', { to: always('minPoolSize'), newer: ['minPoolSize'] }],
  ['acceptablelatencyms', { to: always('localThresholdMS'), newer: ['localThresholdMS'] }],
  [
    'sslpass',
    {
      to: always('tlsCertificateKeyFilePassword'),
      newer: ['tlsCertificateKeyFilePassword', 'passphrase'],
    },
  ],
  // `rejectUnauthorized` has the polarity of `sslValidate`; `tlsAllowInvalidCertificates` would
  // conflict with a `tlsInsecure` given beside it.
  [
    'sslvalidate',
    {
      to: always('rejectUnauthorized'),
      newer: ['rejectUnauthorized', 'tlsAllowInvalidCertificates', 'tlsInsecure'],
    },
  ],
  ['sslca', { to: contentsOrFile('ca', 'tlsCAFile'), newer: ['ca', 'tlsCAFile'] }],
  ['sslcrl', { to: contentsOrFile('crl', 'tlsCRLFile'), newer: ['crl', 'tlsCRLFile'] }],
]);

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
  const query = uri === undefined ? new Map<string, string>() : uriQuery(uri);
  const isGiven = (name: string) => given.has(name.toLowerCase()) || query.has(name.toLowerCase());
  refuseRemovedWithBehaviour(given);

  const out: Record<string, unknown> = {};
  const result: ConnectionOptionsTranslation = {
    options: out,
    dropped: [],
    renamed: [],
    notes: [],
  };
  const supersede = (old: string, by: string) => {
    result.dropped.push(old);
    result.notes.push(`\`${shown(old)}\` was dropped because \`${by}\` is given too`);
  };
  let serviceName: [key: string, value: unknown] | undefined;

  for (const [key, value] of Object.entries(options)) {
    const lower = key.toLowerCase();
    if (value === null || value === undefined) {
      // Kept, unless a translated option of the same name is already there.
      if (!Object.hasOwn(out, key)) setOwn(out, key, value);
    } else if (REMOVED_NAMES.has(lower) || isLegacy(lower, value, options)) {
      if (given.get(lower)?.[0] !== key) {
        // The driver reads only the last spelling of a name.
        result.dropped.push(key);
        result.notes.push(`\`${shown(key)}\` was dropped because a later spelling of it is given`);
      } else if (REMOVED_NAMES.has(lower)) {
        result.dropped.push(key);
        if (value === false && UNHONOURED_WHEN_FALSE[lower] !== undefined) {
          result.notes.push(UNHONOURED_WHEN_FALSE[lower]);
        }
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
        const to = rename.to(value) as string;
        const newer = rename.newer.find(isGiven);
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
  return rename !== undefined && rename.to(value) !== undefined;
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
    result.dropped.push('auth.user');
    result.notes.push('`auth.user` was dropped because `auth.username` is given too');
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
    result.dropped.push(key);
    result.notes.push(`\`${shown(key)}\` was dropped because \`${to}\` is given too`);
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

/** Query parameters with a new name (`sslValidate` also with the opposite value). */
const URI_RENAMES: ReadonlyMap<string, { readonly to: string; readonly newer: readonly string[] }> =
  new Map([
    ['poolsize', { to: 'maxPoolSize', newer: ['maxPoolSize'] }],
    ['minsize', { to: 'minPoolSize', newer: ['minPoolSize'] }],
    ['acceptablelatencyms', { to: 'localThresholdMS', newer: ['localThresholdMS'] }],
    [
      'sslpass',
      {
        to: 'tlsCertificateKeyFilePassword',
        newer: ['tlsCertificateKeyFilePassword', 'passphrase'],
      },
    ],
    ['sslca', { to: 'tlsCAFile', newer: ['tlsCAFile', 'ca'] }],
    ['sslcrl', { to: 'tlsCRLFile', newer: ['tlsCRLFile', 'crl'] }],
    // `rejectUnauthorized` in a query would be the string 'false', which TLS reads as true;
    // the URI parser knows `tlsAllowInvalidCertificates`, its inverse.
    [
      'sslvalidate',
      {
        to: 'tlsAllowInvalidCertificates',
        newer: ['tlsAllowInvalidCertificates', 'tlsInsecure', 'rejectUnauthorized'],
      },
    ],
  ]);

/** The parameter under its new name, raw value kept; `undefined` leaves it for the driver to report. */
function renamedParameter(lower: string, to: string, rawValue: string): string | undefined {
  const value = decoded(rawValue);
  if (lower === 'sslvalidate') {
    return value === 'true' || value === 'false'
      ? `${to}=${value === 'true' ? 'false' : 'true'}`
      : undefined;
  }
  // PEM contents in a query parameter are no path.
  return value.includes('-----BEGIN') ? undefined : `${to}=${rawValue}`;
}

/**
 * Translates the query of a connection string written for drivers 2 to 5: drops the options
 * without effect and renames those with a new name (see `translateConnectionOptions`). Names
 * match in any letter case; of two spellings the driver reads the first. Everything else, the
 * credentials and hosts included, stays byte-identical. `connectionOptions`, if given, counts as
 * giving new names too.
 */
export function translateUriOptions(
  uri: string,
  connectionOptions: Record<string, unknown> = {},
): UriTranslation {
  const result: UriTranslation = { uri, dropped: [], renamed: [], notes: [] };
  const start = uri.indexOf('?');
  if (start === -1) return result;
  const end = uri.includes('#', start) ? uri.indexOf('#', start) : uri.length;
  const parameters = uri.slice(start + 1, end).split('&');
  const inUri = new Set(parameters.map((parameter) => decoded(nameOf(parameter)).toLowerCase()));
  const inObject = lastSpellings(connectionOptions);
  const isGiven = (name: string) =>
    inUri.has(name.toLowerCase()) || inObject.has(name.toLowerCase());
  const seen = new Set<string>();

  const kept: string[] = [];
  for (const parameter of parameters) {
    const rawName = nameOf(parameter);
    const name = decoded(rawName);
    const lower = name.toLowerCase();
    const rawValue = parameter.slice(rawName.length + 1);
    const first = !seen.has(lower);
    seen.add(lower);
    const rename = URI_RENAMES.get(lower);
    if (REMOVED_NAMES.has(lower)) {
      result.dropped.push(name);
      const unhonoured = UNHONOURED_WHEN_FALSE[lower];
      if (first && decoded(rawValue) === 'false' && unhonoured !== undefined) {
        result.notes.push(unhonoured);
      }
    } else if (rename === undefined) {
      kept.push(parameter);
    } else if (!first) {
      // The driver reads only the first spelling of a name in a query.
      result.dropped.push(name);
      result.notes.push(
        `\`${shown(name)}\` was dropped because an earlier spelling of it is given`,
      );
    } else {
      const newer = rename.newer.find(isGiven);
      const converted = renamedParameter(lower, rename.to, rawValue);
      if (newer !== undefined) {
        result.dropped.push(name);
        result.notes.push(`\`${shown(name)}\` was dropped because \`${newer}\` is given too`);
      } else if (converted === undefined) {
        kept.push(parameter);
      } else {
        kept.push(converted);
        result.renamed.push([name, rename.to]);
        if (lower === 'sslvalidate') {
          result.notes.push(
            `\`${shown(name)}\` became \`tlsAllowInvalidCertificates\` with the opposite value`,
          );
        }
      }
    }
  }
  if (result.dropped.length === 0 && result.renamed.length === 0) return result;
  const query = kept.length === 0 ? '' : `?${kept.join('&')}`;
  return { ...result, uri: `${uri.slice(0, start)}${query}${uri.slice(end)}` };
}

/**
 * The warning for a translation, or `undefined` when nothing changed. `source` names where the
 * options were: `connectionOptions` or the connection string.
 */
export function legacyOptionsWarning(
  translation: LegacyTranslation,
  source: 'connectionOptions' | 'uri',
): string | undefined {
  const { dropped, renamed, notes } = translation;
  if (dropped.length === 0 && renamed.length === 0) return undefined;
  const where = source === 'uri' ? 'the connection string (`uri`)' : '`connectionOptions`';
  const removed = dropped.filter((name) => REMOVED_NAMES.has(name.toLowerCase()));
  const superseded = dropped.filter((name) => !REMOVED_NAMES.has(name.toLowerCase()));
  const parts: string[] = [];
  if (removed.length > 0)
    parts.push(`dropped ${list(removed)}, which drivers 6 and 7 no longer have`);
  if (superseded.length > 0) parts.push(`dropped ${list(superseded)}`);
  if (renamed.length > 0) {
    parts.push(
      `renamed ${renamed.map(([from, to]) => `\`${shown(from)}\` to \`${to}\``).join(', ')}`,
    );
  }
  const why = notes.length > 0 ? ` (${notes.join('; ')})` : '';
  return `connect-mongodb-session: ${where} holds options of MongoDB drivers older than 6: ${parts.join('; ')}${why}. Write the current names to silence this warning.`;
}

/** Lower-cased name → the last spelling given with a value (`null`/`undefined` ignored, as the driver does). */
function lastSpellings(options: Record<string, unknown>): Map<string, [string, unknown]> {
  const given = new Map<string, [string, unknown]>();
  for (const [key, value] of Object.entries(options)) {
    if (value !== null && value !== undefined) given.set(key.toLowerCase(), [key, value]);
  }
  return given;
}

/** Lower-cased query parameter name → decoded value, the first spelling winning as in the driver. */
function uriQuery(uri: string): Map<string, string> {
  const query = new Map<string, string>();
  const start = uri.indexOf('?');
  if (start === -1) return query;
  const end = uri.includes('#', start) ? uri.indexOf('#', start) : uri.length;
  for (const parameter of uri.slice(start + 1, end).split('&')) {
    const rawName = nameOf(parameter);
    const lower = decoded(rawName).toLowerCase();
    if (!query.has(lower)) query.set(lower, decoded(parameter.slice(rawName.length + 1)));
  }
  return query;
}

function nameOf(parameter: string): string {
  const equals = parameter.indexOf('=');
  return equals === -1 ? parameter : parameter.slice(0, equals);
}

/** As `URLSearchParams` decodes; a malformed escape is left as written. */
function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
}
