/**
 * Where the client comes from: the options `uri`, `connectionOptions`, `client` and
 * `clientPromise`, each declared in the option table with its check (here), resolved together
 * into `ResolvedOptions.source`. These four can hold a secret (a password in the connection
 * string or the client options, a client's credentials), so their refusals never quote a value.
 */
import type { MongoClient, MongoClientOptions } from 'mongodb';
import { warnOnce } from '../errors/warnings.js';
import { describeValue } from '../support/values.js';
import { translateConnectionOptions } from './legacy-connection-options.js';
import {
  LEGACY_OPTION_WARNING_CODE,
  legacyOptionsWarning,
  translateUriOptions,
} from './legacy-driver-options.js';
import { frozenForPrinting, printableDriverOptions } from './loggable-options.js';
import type { SourceDescriptor } from './option-descriptor.js';
import type { ClientSource } from './option-types.js';
import { type Check, nonEmptyString, object } from './value-checks.js';

/** The server-selection timeout of clients the store creates, unless the user sets one. */
export const DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 3_000;

/** The table's entries of the client's source, as `clientSource` reads them. */
export interface SourceOptions {
  readonly uri: SourceDescriptor<unknown, string>;
  readonly connectionOptions: SourceDescriptor<unknown, MongoClientOptions>;
  readonly client: SourceDescriptor<unknown, MongoClient>;
  readonly clientPromise: SourceDescriptor<unknown, () => Promise<MongoClient>>;
}

/** `uri`: a MongoDB connection string. */
export const connectionString: Check<string> = (value, name) => {
  const uri = nonEmptyString(describeValue)(value, name);
  if (!/^mongodb(\+srv)?:\/\//.test(uri)) {
    throw new TypeError(
      `Expected \`${name}\` to be a MongoDB connection string starting with mongodb:// or mongodb+srv://`,
    );
  }
  return uri;
};

/** `connectionOptions`: an object, translated later (see `clientSource`). */
export const driverOptions: Check<MongoClientOptions> = object(describeValue);

/** `client`: a `MongoClient` of any copy of the driver, recognised by its `db` method. */
export const mongoClient: Check<MongoClient> = (value, name) => {
  if (typeof (value as Partial<MongoClient> | null)?.db !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a MongoClient, got ${describeValue(value)}`);
  }
  return value as MongoClient;
};

/** `clientPromise`: as a function, called again after a failed connection attempt. */
export const clientPromiseOf: Check<() => Promise<MongoClient>> = (value, name) => {
  if (typeof value === 'function') return value as () => Promise<MongoClient>;
  const promise = value as Promise<MongoClient> | null;
  if (typeof promise?.then !== 'function') {
    throw new TypeError(
      `Expected \`${name}\` to be a promise of a MongoClient or a function returning one, got ${typeof value}`,
    );
  }
  // Handled here, so that a promise rejecting before the first operation is not an unhandled
  // rejection; the connection attempt still sees (and reports) the rejection.
  promise.catch(() => undefined);
  return () => promise;
};

/**
 * The client's source, from the options as given (version 5's forms already read): at most one
 * of `uri`, `client` and `clientPromise`, else the default `uri`. Options of older drivers in
 * the connection string or `connectionOptions` are dropped or renamed, with a warning (see
 * legacy-driver-options.ts).
 */
export function clientSource(
  given: Readonly<Record<string, unknown>>,
  table: SourceOptions,
): ClientSource {
  const named = (['uri', 'client', 'clientPromise'] as const).filter(
    (key) => given[key] !== undefined,
  );
  if (named.length > 1) {
    throw new TypeError(
      `Expected one of \`uri\`, \`client\` or \`clientPromise\`, got ${named.map((key) => `\`${key}\``).join(' and ')}`,
    );
  }
  if (given.client !== undefined) {
    return frozenForPrinting({
      kind: 'client',
      client: table.client.check(given.client, 'client'),
    });
  }
  if (given.clientPromise !== undefined) {
    const clientPromise = table.clientPromise.check(given.clientPromise, 'clientPromise');
    return frozenForPrinting({ kind: 'clientPromise', clientPromise });
  }
  const uri = table.uri.check(given.uri ?? table.uri.default, 'uri');
  const connectionOptions = table.connectionOptions.check(
    given.connectionOptions ?? table.connectionOptions.default,
    'connectionOptions',
  ) as Record<string, unknown>;
  // Options of older drivers, which drivers 6 and 7 refuse, are dropped or renamed.
  const fromUri = translateUriOptions(uri, connectionOptions);
  const fromObject = translateConnectionOptions(connectionOptions, uri);
  for (const [translation, source] of [
    [fromUri, 'uri'],
    [fromObject, 'connectionOptions'],
  ] as const) {
    const warning = legacyOptionsWarning(translation, source);
    if (warning !== undefined) warnOnce(warning, LEGACY_OPTION_WARNING_CODE, 'DeprecationWarning');
  }
  return frozenForPrinting({
    kind: 'uri',
    uri: fromUri.uri,
    // A copy, never the caller's object: its secrets are getters, and print blanked.
    connectionOptions: printableDriverOptions(
      withServerSelectionTimeout(fromUri.uri, fromObject.options as MongoClientOptions),
    ),
  });
}

/**
 * The driver waits 30 s by default to find a server, far longer than a request should hang;
 * clients the store creates wait 3 s unless the URI or `connectionOptions` say otherwise.
 */
function withServerSelectionTimeout(
  uri: string,
  connectionOptions: MongoClientOptions,
): MongoClientOptions {
  // The driver reads option names in any case, and the last of two spellings wins.
  const given = Object.keys(connectionOptions).some(
    (key) => key.toLowerCase() === 'serverselectiontimeoutms',
  );
  if (given || /[?&]serverSelectionTimeoutMS=/i.test(uri)) return connectionOptions;
  return { ...connectionOptions, serverSelectionTimeoutMS: DEFAULT_SERVER_SELECTION_TIMEOUT_MS };
}
