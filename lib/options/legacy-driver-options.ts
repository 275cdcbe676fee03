/**
 * Configurations written for MongoDB drivers 2 to 5, recognised so that they keep working where
 * the meaning is unambiguous and fail with a message saying what to write instead where it is not.
 * Pure functions of the options: no I/O. The caller emits the warnings worded here. No message ever
 * holds an option's value (passwords, connection strings): names only.
 *
 * This file holds the names removed and renamed, the warning, and the translation of the query of
 * the connection string; legacy-connection-options.ts translates `connectionOptions`.
 */

import { decoded, nameOf, queryBounds } from './connection-string-query.js';
import { list, shown } from './shown-names.js';

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

/** Whether drivers 6 and 7 no longer have the option of this lower-cased name. */
export function isRemoved(lower: string): boolean {
  return REMOVED_NAMES.has(lower);
}

/** Settings whose `false` asked for a behaviour drivers 4 and later no longer offer. */
const UNHONOURED_WHEN_FALSE: Readonly<Record<string, string>> = {
  keepalive:
    'TCP keep-alive is always on since MongoDB driver 6, so `keepAlive: false` cannot be honoured',
  autoreconnect:
    'the client always reconnects since MongoDB driver 4, so `autoReconnect: false` cannot be honoured',
  auto_reconnect:
    'the client always reconnects since MongoDB driver 4, so `auto_reconnect: false` cannot be honoured',
};

/** An option name drivers 6 and 7 take under another name (see `RENAMES`). */
export interface Rename {
  /** The new name, taking the same value. */
  readonly to: string;
  /** In `connectionOptions`, the new name for certificate contents, where `to` takes a file's path. */
  readonly contents?: string;
  /** In a connection string, the new name taking the opposite value, in place of `to`. */
  readonly inverse?: string;
  /** Other names that, when given too, win over the old one (it is then dropped). */
  readonly alsoNewer?: readonly string[];
}

/**
 * Option names, lower-cased, that drivers 6 and 7 accept under another name: one table for both
 * `connectionOptions` and the query of the connection string.
 */
export const RENAMES: ReadonlyMap<string, Rename> = new Map([
  ['poolsize', { to: 'maxPoolSize' }],
  ['minsize', { to: 'minPoolSize' }],
  ['acceptablelatencyms', { to: 'localThresholdMS' }],
  ['sslpass', { to: 'tlsCertificateKeyFilePassword', alsoNewer: ['passphrase'] }],
  // `rejectUnauthorized` has the polarity of `sslValidate`; `tlsAllowInvalidCertificates` would
  // conflict with a `tlsInsecure` given beside it. In a query, `rejectUnauthorized` would be the
  // string 'false', which TLS reads as true; the URI parser knows `tlsAllowInvalidCertificates`.
  [
    'sslvalidate',
    {
      to: 'rejectUnauthorized',
      inverse: 'tlsAllowInvalidCertificates',
      alsoNewer: ['tlsInsecure'],
    },
  ],
  ['sslca', { to: 'tlsCAFile', contents: 'ca' }],
  ['sslcrl', { to: 'tlsCRLFile', contents: 'crl' }],
]);

/** Drops an option drivers 6 and 7 no longer have, saying so when its `false` cannot be honoured. */
export function dropRemoved(result: LegacyTranslation, name: string, isFalse: boolean): void {
  result.dropped.push(name);
  const unhonoured = UNHONOURED_WHEN_FALSE[name.toLowerCase()];
  if (isFalse && unhonoured !== undefined) result.notes.push(unhonoured);
}

/** Drops an old name because its new name `by` is given too. */
export function dropSuperseded(result: LegacyTranslation, old: string, by: string): void {
  result.dropped.push(old);
  result.notes.push(`\`${shown(old)}\` was dropped because \`${by}\` is given too`);
}

/**
 * The names that, when given too, win over a renamed option: `first`, the name it takes in the
 * form at hand, then the rename's other new names.
 */
export function newerNames(rename: Rename, first: string): string[] {
  const names = [first, rename.to, rename.contents, rename.inverse, ...(rename.alsoNewer ?? [])];
  return [...new Set(names.filter((name) => name !== undefined))];
}

/** The name a renamed parameter takes in a query: the inverse where the rename has one. */
function queryName(rename: Rename): string {
  return rename.inverse ?? rename.to;
}

/** The parameter under its new name, raw value kept; `undefined` leaves it for the driver to report. */
function renamedParameter(rename: Rename, rawValue: string): string | undefined {
  const value = decoded(rawValue);
  const to = queryName(rename);
  if (rename.inverse !== undefined) {
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
  const bounds = queryBounds(uri);
  if (bounds === undefined) return result;
  const { start, end } = bounds;
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
    const rename = RENAMES.get(lower);
    if (REMOVED_NAMES.has(lower)) {
      dropRemoved(result, name, first && decoded(rawValue) === 'false');
    } else if (rename === undefined) {
      kept.push(parameter);
    } else if (!first) {
      // The driver reads only the first spelling of a name in a query.
      result.dropped.push(name);
      result.notes.push(
        `\`${shown(name)}\` was dropped because an earlier spelling of it is given`,
      );
    } else {
      const newer = newerNames(rename, queryName(rename)).find(isGiven);
      const converted = renamedParameter(rename, rawValue);
      if (newer !== undefined) {
        dropSuperseded(result, name, newer);
      } else if (converted === undefined) {
        kept.push(parameter);
      } else {
        kept.push(converted);
        result.renamed.push([name, queryName(rename)]);
        if (rename.inverse !== undefined) {
          result.notes.push(
            `\`${shown(name)}\` became \`${rename.inverse}\` with the opposite value`,
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
export function lastSpellings(options: Record<string, unknown>): Map<string, [string, unknown]> {
  const given = new Map<string, [string, unknown]>();
  for (const [key, value] of Object.entries(options)) {
    if (value !== null && value !== undefined) given.set(key.toLowerCase(), [key, value]);
  }
  return given;
}
