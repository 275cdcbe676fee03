import type { MongoClient, MongoClientOptions, WriteConcernSettings } from 'mongodb';
import {
  type EncryptionOption,
  encryptionOption,
  type ResolvedEncryption,
} from '../codec/session-crypto.js';
import { STORED_BESIDE_SESSION } from '../codec/session-ends.js';
import { type TransformId, transformIdOption } from '../codec/session-ids.js';
import { warnOnce } from '../errors/warnings.js';
import { describeValue } from '../support/values.js';
import {
  LEGACY_OPTION_WARNING_CODE,
  legacyOptionsWarning,
  translateConnectionOptions,
  translateUriOptions,
} from './legacy-driver-options.js';
import { printableDriverOptions, printedWithoutSecrets } from './loggable-options.js';
import {
  assertNoConnectMongoNames,
  checkOptionNames,
  UNKNOWN_OPTION_WARNING_CODE,
  unknownOptionWarning,
} from './option-names.js';

/** Options of `SessionRepository` (and of `MongoDBStore`, which passes them on). */
export interface SessionRepositoryOptions {
  /**
   * MongoDB connection string, used when neither `client` nor `clientPromise` is given.
   * @default 'mongodb://127.0.0.1:27017/test'
   */
  readonly uri?: string | undefined;
  /** Options for the `MongoClient` the repository creates from `uri`. @default {} */
  readonly connectionOptions?: MongoClientOptions | undefined;
  /** A client you own (connected or not). The repository uses it and never closes it. */
  readonly client?: MongoClient | undefined;
  /**
   * A client you own, as `client`, once this promise resolves. A promise that rejects stays
   * rejected, so every later operation fails too; give a function returning a new promise
   * instead and each connection attempt calls it again.
   */
  readonly clientPromise?: Promise<MongoClient> | (() => Promise<MongoClient>) | undefined;
  /** Database to store sessions in. @default the database named in the connection string, else `test` */
  readonly databaseName?: string | undefined;
  /** Collection to store sessions in. @default 'sessions' */
  readonly collection?: string | undefined;
  /** How long a session lives when its cookie has no expiry, in milliseconds. @default 1_209_600_000 (14 days) */
  readonly expires?: number | undefined;
  /** Field that holds the session id; any field but `_id` gets a unique index. @default '_id' */
  readonly idField?: string | undefined;
  /** Field that holds the expiry date, indexed by the TTL index. @default 'expires' */
  readonly expiresKey?: string | undefined;
  /** `expireAfterSeconds` of the TTL index: how long after expiry MongoDB deletes a session, in seconds. @default 0 */
  readonly expiresAfterSeconds?: number | undefined;
  /** Write concern of every write; unset, the client's (by default, majority on replica sets). */
  readonly writeConcern?: WriteConcernSettings | undefined;
  /**
   * How many operations may be pending at once (waiting for the connection or running); past it,
   * new ones are refused at once with `QueueFullError`, so memory stays bounded while the
   * database is away. Every operation ends by its deadline, so the bound only needs to cover
   * the requests of one deadline: 2 000 is 800 a second over half of the default 5 s (about
   * 9 MB of pending work). @default 2_000
   */
  readonly maxPendingOperations?: number | undefined;
  /**
   * Deadline of every operation, in milliseconds, waiting for the connection included; past it
   * the operation rejects with `OperationTimeoutError`. `0` turns the deadline off. A client the
   * store creates from `uri` also gets `serverSelectionTimeoutMS: 3000` unless the URI or
   * `connectionOptions` set it. @default 5_000
   */
  readonly operationTimeoutMs?: number | undefined;
  /**
   * How a session is stored: `'document'` as a BSON document (queryable; version 5's form),
   * `'json'` as a JSON string (connect-mongo's default form), or your own `{ stringify, parse }`.
   * @default 'document'
   */
  readonly serializer?: SerializerOption | undefined;
  /**
   * Who deletes expired sessions: `'native'` MongoDB's TTL monitor, through a TTL index the store
   * creates (on servers without TTL indexes, such as FerretDB 1.x, the store falls back to
   * `'interval'` by itself and says so once); `'interval'` the store, on a timer; `'disabled'`
   * nobody (you do, with `deleteExpired()` or your own index). Reads ignore expired sessions in
   * every mode. @default 'native'
   */
  readonly autoRemove?: AutoRemoveOption | undefined;
  /** How often `'interval'` deletes expired sessions, in milliseconds. @default 60_000 */
  readonly autoRemoveIntervalMs?: number | undefined;
  /**
   * Lazy touch: a `touch` within this many milliseconds of the session's last write sends
   * nothing, so an active session costs one write per window instead of one per request. The
   * window never exceeds a tenth of the session's lifetime, so no session seen within nine tenths
   * of its lifetime expires. `0` writes on every touch. @default 60_000
   */
  readonly touchAfterMs?: number | undefined;
  /**
   * Whether the store creates its indexes (the TTL index and the unique index on a custom
   * `idField`). Turn it off for database users without the right to create indexes, and create
   * them yourself (see the backends guide). @default true
   */
  readonly manageIndexes?: boolean | undefined;
  /**
   * The key each session is stored under, from its session id (connect-mongo's name and meaning):
   * `hashSessionId(secret)` stores the HMAC-SHA-256 of the id, so that a dump of the collection
   * holds no usable cookie. `ids()`, `all()` and the iterator then return stored keys, not
   * session ids. Switching it on (or changing it) in a running deployment logs everyone out:
   * see docs/security.md. @default undefined (the session id itself)
   */
  readonly transformId?: ((sid: string) => string) | undefined;
  /**
   * Encryption at rest with AES-256-GCM: `{ keys: [{ id, key }] }`, each key 32 random bytes.
   * The first key encrypts every write; any listed key decrypts, so keys rotate by putting the
   * new one first. Sessions stored in clear are still read (the next write encrypts them); a
   * session that does not decrypt reads as none and is reported (`SessionDecryptionError`). See
   * docs/security.md. @default undefined (sessions stored in clear)
   */
  readonly encryption?: EncryptionOption | undefined;
  /**
   * How long an ended session's id stays ended, in milliseconds. `destroy` (logout, and
   * express-session's `regenerate` at login) and `destroyWhere` leave a small record of each id
   * they end, so that a request of that session still running cannot store it again when it
   * ends: its `set` or `touch` writes nothing and the store emits `refused`. The record expires
   * like a session after this window; keep it longer than your slowest request. See
   * docs/security.md. @default 3_600_000 (1 hour)
   */
  readonly terminationWindowMs?: number | undefined;
  /**
   * Absolute lifetime: a session stored longer ago than this, in milliseconds, is ended however
   * recently it was used (its `get` finds none, its `set` and `touch` write nothing). Counted from
   * the session's first write by this version; sessions stored before have their clock start at
   * their next write. @default undefined (no absolute lifetime)
   */
  readonly absoluteTimeoutMs?: number | undefined;
}

/**
 * Who deletes expired sessions: `'native'`, the server's TTL monitor (the store falls back to
 * `'interval'` where the server has none); `'interval'`, the store itself every
 * `autoRemoveIntervalMs`; `'disabled'`, nobody (reads still ignore expired sessions).
 */
export type AutoRemoveOption = 'native' | 'interval' | 'disabled';

/** A serializer of your own: a session to a string and back, as connect-redis takes. */
export interface SessionSerializer {
  /** The session as a string, to store. */
  stringify(session: unknown): string;
  /** A stored string back into a session; what it throws makes the session unreadable. */
  parse(text: string): unknown;
}

/**
 * How a session is stored: `'document'`, as a BSON document MongoDB can query; `'json'`, as a
 * JSON string (version 5 and connect-mongo's default form); or a serializer of your own.
 */
export type SerializerOption = 'document' | 'json' | SessionSerializer;

/** Where the repository's client comes from. */
export type ClientSource =
  | {
      /** A client the repository creates, and closes. */
      readonly kind: 'uri';
      /** The connection string. */
      readonly uri: string;
      /** The options of the client, the store's defaults added. */
      readonly connectionOptions: MongoClientOptions;
    }
  | {
      /** A client of the application's, never closed by the repository. */
      readonly kind: 'client';
      /** That client. */
      readonly client: MongoClient;
    }
  | {
      /** A client of the application's, once the promise resolves; never closed by the repository. */
      readonly kind: 'clientPromise';
      /** Gives the promise; called again after a failed connection attempt. */
      readonly clientPromise: () => Promise<MongoClient>;
    };

/**
 * Options after defaults and validation; frozen, and the only form the layers below read. Printed
 * (`util.inspect`, `console.log`) or serialised (`JSON.stringify`), it shows no credentials: see
 * loggable-options.ts.
 */
export interface ResolvedOptions {
  /** Where the client comes from: one made from `uri`, `client`, or `clientPromise` (as a function). */
  readonly source: ClientSource;
  /** `databaseName`; `undefined` for the connection string's database. */
  readonly databaseName: string | undefined;
  /** `collection`. */
  readonly collection: string;
  /** `expires`, in milliseconds. */
  readonly expiresMs: number;
  /** `idField`. */
  readonly idField: string;
  /** `expiresKey`. */
  readonly expiresKey: string;
  /** `expiresAfterSeconds`. */
  readonly expiresAfterSeconds: number;
  /** `writeConcern`; `undefined` for the client's. */
  readonly writeConcern: WriteConcernSettings | undefined;
  /** `maxPendingOperations`. */
  readonly maxPendingOperations: number;
  /** `operationTimeoutMs`; `0`: no deadline. */
  readonly operationTimeoutMs: number;
  /** `serializer`. */
  readonly serializer: SerializerOption;
  /** `autoRemove` as given; `repository.autoRemove` tells the mode in effect. */
  readonly autoRemove: AutoRemoveOption;
  /** `autoRemoveIntervalMs`. */
  readonly autoRemoveIntervalMs: number;
  /** `touchAfterMs`; `0`: every touch writes. */
  readonly touchAfterMs: number;
  /** `manageIndexes`. */
  readonly manageIndexes: boolean;
  /** `transformId`; `undefined`: the session id is stored as it is. */
  readonly transformId: TransformId | undefined;
  /** The keys as `KeyObject`s, which `util.inspect` does not print. */
  readonly encryption: ResolvedEncryption | undefined;
  /** `terminationWindowMs`. */
  readonly terminationWindowMs: number;
  /** `absoluteTimeoutMs`; `undefined`: no absolute lifetime. */
  readonly absoluteTimeoutMs: number | undefined;
}

export const DEFAULT_URI = 'mongodb://127.0.0.1:27017/test';
export const DEFAULT_EXPIRES_MS = 14 * 24 * 60 * 60 * 1000;
export const DEFAULT_OPERATION_TIMEOUT_MS = 5_000;
/** Pending operations past which new ones are refused at once (`QueueFullError`). */
export const DEFAULT_MAX_PENDING_OPERATIONS = 2_000;
export const DEFAULT_AUTO_REMOVE_INTERVAL_MS = 60_000;
export const DEFAULT_TOUCH_AFTER_MS = 60_000;
/**
 * An hour: Node's HTTP server gives a request 5 minutes to arrive by default, and the window must
 * outlast the longest request still running when its session ends, streams and uploads included.
 */
export const DEFAULT_TERMINATION_WINDOW_MS = 60 * 60 * 1000;
/** The longest delay `setTimeout` keeps: past it, a timer fires at once. */
const MAX_TIMER_MS = 2_147_483_647;
/** The server-selection timeout of clients the store creates, unless the user sets one. */
export const DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 3_000;
/**
 * The longest `expires`: now plus this stays well inside the dates a JavaScript `Date` (and a
 * BSON date read back into one) can hold, about 275 000 years from 1970, for millennia to come.
 */
export const MAX_EXPIRES_MS = 8e15;
/** MongoDB stores `expireAfterSeconds` as a 32-bit integer. */
export const MAX_EXPIRE_AFTER_SECONDS = 2_147_483_647;
/** Longest database name MongoDB accepts, in bytes (it must have fewer than 64). */
const MAX_DATABASE_NAME_BYTES = 63;
/** Longest namespace (`database.collection`) MongoDB 4.4+ accepts for an unsharded collection, in bytes. */
const MAX_NAMESPACE_BYTES = 255;
/** The fields the store writes beside the session's id and expiry (see session-ends.ts). */
const RESERVED_FIELDS = new Set(['session', ...STORED_BESIDE_SESSION]);

/** Validates user options once and returns the frozen result; throws a `TypeError` naming the option. */
export function resolveOptions(given: SessionRepositoryOptions | null = {}): ResolvedOptions {
  const options = asVersion5Did(given);
  assertNoConnectMongoNames(options);
  for (const unknown of checkOptionNames(options).unknown) {
    warnOnce(unknownOptionWarning(unknown), UNKNOWN_OPTION_WARNING_CODE);
  }
  const idField = fieldName('idField', options.idField ?? '_id');
  const expiresKey = fieldName('expiresKey', options.expiresKey ?? 'expires');
  if (idField === expiresKey) {
    throw new TypeError(
      `Expected \`idField\` and \`expiresKey\` to differ, both are \`${idField}\``,
    );
  }
  if (expiresKey === '_ts' && idField === 'expires') {
    throw new TypeError(
      "Expected `idField` not to be `expires` with `expiresKey: '_ts'`: in the Cosmos DB mode the store keeps its expiry date in `expires`",
    );
  }

  const databaseName = optionalDatabaseName(options.databaseName);
  return frozenForPrinting({
    source: resolveSource(options),
    databaseName,
    collection: collectionName(options.collection ?? 'sessions', databaseName),
    expiresMs: boundedNumber('expires', options.expires ?? DEFAULT_EXPIRES_MS, MAX_EXPIRES_MS),
    idField,
    expiresKey,
    expiresAfterSeconds: nonNegativeInteger(
      'expiresAfterSeconds',
      options.expiresAfterSeconds ?? 0,
      MAX_EXPIRE_AFTER_SECONDS,
      'seconds',
    ),
    writeConcern: optionalObject('writeConcern', options.writeConcern),
    maxPendingOperations: positiveInteger(
      'maxPendingOperations',
      options.maxPendingOperations ?? DEFAULT_MAX_PENDING_OPERATIONS,
    ),
    operationTimeoutMs: nonNegativeInteger(
      'operationTimeoutMs',
      options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS,
      MAX_TIMER_MS,
      'milliseconds',
    ),
    serializer: serializerOption(options.serializer ?? 'document'),
    autoRemove: oneOf('autoRemove', options.autoRemove ?? 'native', AUTO_REMOVE_MODES),
    autoRemoveIntervalMs: positiveInteger(
      'autoRemoveIntervalMs',
      options.autoRemoveIntervalMs ?? DEFAULT_AUTO_REMOVE_INTERVAL_MS,
      MAX_TIMER_MS,
    ),
    touchAfterMs: nonNegativeInteger(
      'touchAfterMs',
      options.touchAfterMs ?? DEFAULT_TOUCH_AFTER_MS,
      MAX_EXPIRES_MS,
      'milliseconds',
    ),
    manageIndexes: boolean('manageIndexes', options.manageIndexes ?? true),
    transformId: transformIdOption(options.transformId),
    encryption: encryptionOption(options.encryption),
    terminationWindowMs: positiveInteger(
      'terminationWindowMs',
      options.terminationWindowMs ?? DEFAULT_TERMINATION_WINDOW_MS,
      MAX_EXPIRES_MS,
    ),
    absoluteTimeoutMs:
      options.absoluteTimeoutMs === undefined
        ? undefined
        : boundedNumber('absoluteTimeoutMs', options.absoluteTimeoutMs, MAX_EXPIRES_MS),
  });
}

/**
 * Frozen, and printed or serialised without credentials: `uri` and `client`, when there, are
 * getters that `console.dir` does not call (see loggable-options.ts).
 */
function frozenForPrinting<T extends object>(options: T): T {
  const secret = ['uri', 'client'].filter((field) => Object.hasOwn(options, field));
  return Object.freeze(printedWithoutSecrets(options, secret as Array<keyof T & string>));
}

/** The numeric options, which version 5 also took as numeric strings (`expires: '60000'`). */
const NUMERIC_OPTIONS = [
  'expires',
  'expiresAfterSeconds',
  'maxPendingOperations',
  'operationTimeoutMs',
  'autoRemoveIntervalMs',
  'touchAfterMs',
  'terminationWindowMs',
  'absoluteTimeoutMs',
] as const;

const AUTO_REMOVE_MODES = ['native', 'interval', 'disabled'] as const;

/**
 * Options as version 5 took them: any falsy value for "all defaults", `null` for "this one's
 * default", and numeric strings for numbers.
 */
function asVersion5Did(given: unknown): SessionRepositoryOptions {
  if (!given) return {};
  if (typeof given !== 'object') {
    // Not quoted: a connection string given in place of the options holds its password.
    throw new TypeError(`Expected options to be an object, got ${describeValue(given)}`);
  }
  const options: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(given)) {
    if (value !== null) options[name] = value;
  }
  for (const name of NUMERIC_OPTIONS) {
    const value = options[name];
    if (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value))
      options[name] = Number(value);
  }
  return options as SessionRepositoryOptions;
}

/**
 * What `store.options` shows: the resolved options under version 5's names (`uri`,
 * `connectionOptions`, `databaseName`, `expires`), the others as resolved. Derived from
 * `ResolvedOptions`, so that a new option shows here without being declared twice.
 */
export interface StoreOptionsView
  extends Omit<ResolvedOptions, 'source' | 'databaseName' | 'expiresMs'> {
  /** The connection string, when the store creates its client. */
  readonly uri: string | undefined;
  /** The options of the client the store creates (with the store's defaults added). */
  readonly connectionOptions: MongoClientOptions | undefined;
  /** The database named by the option; `null` (version 5's default) for the connection string's. */
  readonly databaseName: string | null;
  /** Milliseconds. */
  readonly expires: number;
}

/** The resolved options under version 5's names, frozen, and printed without credentials. */
export function optionsView(resolved: ResolvedOptions): StoreOptionsView {
  const { source } = resolved;
  return frozenForPrinting({
    uri: source.kind === 'uri' ? source.uri : undefined,
    connectionOptions: source.kind === 'uri' ? source.connectionOptions : undefined,
    databaseName: resolved.databaseName ?? null,
    collection: resolved.collection,
    expires: resolved.expiresMs,
    idField: resolved.idField,
    expiresKey: resolved.expiresKey,
    expiresAfterSeconds: resolved.expiresAfterSeconds,
    writeConcern: resolved.writeConcern,
    maxPendingOperations: resolved.maxPendingOperations,
    operationTimeoutMs: resolved.operationTimeoutMs,
    serializer: resolved.serializer,
    autoRemove: resolved.autoRemove,
    autoRemoveIntervalMs: resolved.autoRemoveIntervalMs,
    touchAfterMs: resolved.touchAfterMs,
    manageIndexes: resolved.manageIndexes,
    transformId: resolved.transformId,
    encryption: resolved.encryption,
    terminationWindowMs: resolved.terminationWindowMs,
    absoluteTimeoutMs: resolved.absoluteTimeoutMs,
  });
}

function resolveSource(options: SessionRepositoryOptions): ResolvedOptions['source'] {
  const given = (['uri', 'client', 'clientPromise'] as const).filter(
    (key) => options[key] !== undefined,
  );
  if (given.length > 1) {
    throw new TypeError(
      `Expected one of \`uri\`, \`client\` or \`clientPromise\`, got ${given.map((key) => `\`${key}\``).join(' and ')}`,
    );
  }
  if (options.client !== undefined) {
    if (typeof options.client?.db !== 'function') {
      throw new TypeError(`Expected \`client\` to be a MongoClient, got ${describeValue(options.client)}`);
    }
    return frozenForPrinting({ kind: 'client', client: options.client });
  }
  const { clientPromise } = options;
  if (typeof clientPromise === 'function') {
    return frozenForPrinting({ kind: 'clientPromise', clientPromise });
  }
  if (clientPromise !== undefined) {
    if (typeof clientPromise?.then !== 'function') {
      throw new TypeError(
        `Expected \`clientPromise\` to be a promise of a MongoClient or a function returning one, got ${typeof clientPromise}`,
      );
    }
    // Handled here, so that a promise rejecting before the first operation is not an unhandled
    // rejection; the connection attempt still sees (and reports) the rejection.
    clientPromise.catch(() => undefined);
    return frozenForPrinting({ kind: 'clientPromise', clientPromise: () => clientPromise });
  }
  const uri = nonEmptyString('uri', options.uri ?? DEFAULT_URI);
  if (!/^mongodb(\+srv)?:\/\//.test(uri)) {
    throw new TypeError(
      'Expected `uri` to be a MongoDB connection string starting with mongodb:// or mongodb+srv://',
    );
  }
  const connectionOptions = (optionalObject('connectionOptions', options.connectionOptions) ??
    {}) as Record<string, unknown>;
  // Options of older drivers, which drivers 6 and 7 refuse, are dropped or renamed (see legacy-driver-options.ts).
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

function serializerOption(value: unknown): SerializerOption {
  if (value === 'document' || value === 'json') return value;
  const custom = value as Partial<SessionSerializer> | null;
  if (
    typeof custom === 'object' &&
    custom !== null &&
    typeof custom.stringify === 'function' &&
    typeof custom.parse === 'function'
  ) {
    return custom as SessionSerializer;
  }
  throw new TypeError(
    `Expected \`serializer\` to be 'document', 'json' or an object with \`stringify\` and \`parse\` functions, got \`${String(value)}\` (${typeof value})`,
  );
}

/** Database names: no `/\\. "$*<>:|?` or NUL (MongoDB refuses them on some platform), fewer than 64 bytes. */
function optionalDatabaseName(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const name = nonEmptyString('databaseName', value);
  if (/[/\\. "$*<>:|?\0]/.test(name) || Buffer.byteLength(name) > MAX_DATABASE_NAME_BYTES) {
    throw new TypeError(
      `Expected \`databaseName\` to be a MongoDB database name: fewer than 64 bytes, none of /\\. "$*<>:|? or NUL, got \`${name}\``,
    );
  }
  return name;
}

/** Collection names: no `$` or NUL, not `system.…`, and a namespace MongoDB accepts. */
function collectionName(value: unknown, databaseName: string | undefined): string {
  const name = nonEmptyString('collection', value);
  const namespaceBytes = Buffer.byteLength(`${databaseName ?? 'test'}.${name}`);
  if (/[$\0]/.test(name) || name.startsWith('system.') || namespaceBytes > MAX_NAMESPACE_BYTES) {
    throw new TypeError(
      `Expected \`collection\` to be a MongoDB collection name: no $ or NUL, not starting with system., at most ${MAX_NAMESPACE_BYTES} bytes with the database name, got \`${name}\``,
    );
  }
  return name;
}

function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(
      `Expected \`${name}\` to be a non-empty string, got ${received(name, value)}`,
    );
  }
  return value;
}

/**
 * Options whose value can hold a secret: a connection string's password (a `URL` object's too),
 * a password among the client options, a client's credentials. Their refusals never quote it.
 */
const SECRET_OPTIONS: ReadonlySet<string> = new Set([
  'uri',
  'connectionOptions',
  'client',
  'clientPromise',
]);

/** A received value as a refusal shows it: quoted, but for the options that can hold a secret. */
function received(name: string, value: unknown): string {
  return SECRET_OPTIONS.has(name) ? describeValue(value) : `\`${String(value)}\` (${typeof value})`;
}

/** A top-level field name: no dots (they would address a nested field) and no leading `$`. */
function fieldName(name: string, value: unknown): string {
  const field = nonEmptyString(name, value);
  if (field.includes('.') || field.startsWith('$') || RESERVED_FIELDS.has(field)) {
    throw new TypeError(
      `Expected \`${name}\` to be a top-level field name other than ${[...RESERVED_FIELDS].map((each) => `\`${each}\``).join(', ')}, without \`.\` or a leading \`$\`, got \`${field}\``,
    );
  }
  return field;
}

function boundedNumber(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new TypeError(
      `Expected \`${name}\` to be a positive finite number of milliseconds, at most ${max}, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

function positiveInteger(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0 || value > max) {
    throw new TypeError(
      `Expected \`${name}\` to be a positive integer, at most ${max}, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new TypeError(
      `Expected \`${name}\` to be one of ${allowed.map((option) => `'${option}'`).join(', ')}, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value as T;
}

function boolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(
      `Expected \`${name}\` to be true or false, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

function nonNegativeInteger(name: string, value: unknown, max: number, unit: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new TypeError(
      `Expected \`${name}\` to be a whole number of ${unit} from 0 to ${max}, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

function optionalObject<T extends object>(name: string, value: T | undefined): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`Expected \`${name}\` to be an object, got ${received(name, value)}`);
  }
  return value;
}
