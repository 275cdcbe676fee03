import type { MongoClient, MongoClientOptions, WriteConcernSettings } from 'mongodb';

/** Options of `SessionRepository` (and of `MongoDBStore`, which passes them on). */
export interface SessionRepositoryOptions {
  /**
   * MongoDB connection string, used when neither `client` nor `clientPromise` is given.
   * @default 'mongodb://127.0.0.1:27017/test'
   */
  readonly uri?: string;
  /** Options for the `MongoClient` the repository creates from `uri`. @default {} */
  readonly connectionOptions?: MongoClientOptions;
  /** A client you own (connected or not). The repository uses it and never closes it. */
  readonly client?: MongoClient;
  /** A promise of a client you own, as `client`. */
  readonly clientPromise?: Promise<MongoClient>;
  /** Database to store sessions in. @default the database named in the connection string, else `test` */
  readonly databaseName?: string;
  /** Collection to store sessions in. @default 'sessions' */
  readonly collection?: string;
  /** How long a session lives when its cookie has no expiry, in milliseconds. @default 1_209_600_000 (14 days) */
  readonly expires?: number;
  /** Field that holds the session id; any field but `_id` gets a unique index. @default '_id' */
  readonly idField?: string;
  /** Field that holds the expiry date, indexed by the TTL index. @default 'expires' */
  readonly expiresKey?: string;
  /** `expireAfterSeconds` of the TTL index: how long after expiry MongoDB deletes a session, in seconds. @default 0 */
  readonly expiresAfterSeconds?: number;
  /** Write concern of every write; unset, the client's (by default, majority on replica sets). */
  readonly writeConcern?: WriteConcernSettings;
  /** How many operations may wait for the connection before new ones are refused. @default 10_000 */
  readonly maxPendingOperations?: number;
}

/** Options after defaults and validation; frozen, and the only form the layers below read. */
export interface ResolvedOptions {
  readonly source:
    | { readonly kind: 'uri'; readonly uri: string; readonly connectionOptions: MongoClientOptions }
    | { readonly kind: 'client'; readonly client: MongoClient }
    | { readonly kind: 'clientPromise'; readonly clientPromise: Promise<MongoClient> };
  readonly databaseName: string | undefined;
  readonly collection: string;
  readonly expiresMs: number;
  readonly idField: string;
  readonly expiresKey: string;
  readonly expiresAfterSeconds: number;
  readonly writeConcern: WriteConcernSettings | undefined;
  readonly maxPendingOperations: number;
}

export const DEFAULT_URI = 'mongodb://127.0.0.1:27017/test';
export const DEFAULT_EXPIRES_MS = 14 * 24 * 60 * 60 * 1000;
const RESERVED_FIELDS = new Set(['session']);

/** Validates user options once and returns the frozen result; throws a `TypeError` naming the option. */
export function resolveOptions(options: SessionRepositoryOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      `Expected options to be an object, got \`${String(options)}\` (${typeof options})`,
    );
  }
  const idField = fieldName('idField', options.idField ?? '_id');
  const expiresKey = fieldName('expiresKey', options.expiresKey ?? 'expires');
  if (idField === expiresKey) {
    throw new TypeError(
      `Expected \`idField\` and \`expiresKey\` to differ, both are \`${idField}\``,
    );
  }

  return Object.freeze({
    source: resolveSource(options),
    databaseName: optionalName('databaseName', options.databaseName),
    collection: nonEmptyString('collection', options.collection ?? 'sessions'),
    expiresMs: positiveNumber('expires', options.expires ?? DEFAULT_EXPIRES_MS, 'milliseconds'),
    idField,
    expiresKey,
    expiresAfterSeconds: nonNegativeInteger(
      'expiresAfterSeconds',
      options.expiresAfterSeconds ?? 0,
    ),
    writeConcern: optionalObject('writeConcern', options.writeConcern),
    maxPendingOperations: positiveInteger(
      'maxPendingOperations',
      options.maxPendingOperations ?? 10_000,
    ),
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
      throw new TypeError(`Expected \`client\` to be a MongoClient, got ${typeof options.client}`);
    }
    return Object.freeze({ kind: 'client', client: options.client });
  }
  if (options.clientPromise !== undefined) {
    if (typeof options.clientPromise?.then !== 'function') {
      throw new TypeError(
        `Expected \`clientPromise\` to be a promise of a MongoClient, got ${typeof options.clientPromise}`,
      );
    }
    return Object.freeze({ kind: 'clientPromise', clientPromise: options.clientPromise });
  }
  const uri = nonEmptyString('uri', options.uri ?? DEFAULT_URI);
  if (!/^mongodb(\+srv)?:\/\//.test(uri)) {
    throw new TypeError(
      'Expected `uri` to be a MongoDB connection string starting with mongodb:// or mongodb+srv://',
    );
  }
  return Object.freeze({
    kind: 'uri',
    uri,
    connectionOptions: optionalObject('connectionOptions', options.connectionOptions) ?? {},
  });
}

function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(
      `Expected \`${name}\` to be a non-empty string, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

function optionalName(name: string, value: unknown): string | undefined {
  return value === undefined ? undefined : nonEmptyString(name, value);
}

/** A top-level field name: no dots (they would address a nested field) and no leading `$`. */
function fieldName(name: string, value: unknown): string {
  const field = nonEmptyString(name, value);
  if (field.includes('.') || field.startsWith('$') || RESERVED_FIELDS.has(field)) {
    throw new TypeError(
      `Expected \`${name}\` to be a top-level field name other than \`session\`, without \`.\` or a leading \`$\`, got \`${field}\``,
    );
  }
  return field;
}

function positiveNumber(name: string, value: unknown, unit: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(
      `Expected \`${name}\` to be a positive finite number of ${unit}, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(
      `Expected \`${name}\` to be a positive integer, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

function nonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(
      `Expected \`${name}\` to be a whole number of seconds, 0 or more, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}

function optionalObject<T extends object>(name: string, value: T | undefined): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(
      `Expected \`${name}\` to be an object, got \`${String(value)}\` (${typeof value})`,
    );
  }
  return value;
}
