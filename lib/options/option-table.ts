/**
 * Every option of the store, declared once: its check, its default, whether version 5's numeric
 * strings count, where it is resolved to and how `store.options` shows it (see
 * option-descriptor.ts), and its documentation, which the public `SessionRepositoryOptions`
 * (options.ts) takes from here. The order is the order of `store.options`.
 *
 * Adding an option is adding an entry here, with its TSDoc (meaning, unit, `@default`).
 */
import type { MongoClient, MongoClientOptions, WriteConcernSettings } from 'mongodb';
import { clientPromiseOf, connectionString, driverOptions, mongoClient } from './client-source.js';
import {
  type EncryptionOption,
  encryptionOption,
  type ResolvedEncryption,
} from './encryption-option.js';
import { option, sourceOption } from './option-descriptor.js';
import type { AutoRemoveOption, SerializerOption, TransformId } from './option-types.js';
import {
  boolean,
  boundedNumber,
  collectionName,
  databaseName,
  fieldName,
  nonNegativeInteger,
  object,
  oneOf,
  positiveInteger,
  serializer,
  transformId,
} from './value-checks.js';

/** The longest delay `setTimeout` keeps: past it, a timer fires at once. */
const MAX_TIMER_MS = 2_147_483_647;
/**
 * The longest `expires`: now plus this stays well inside the dates a JavaScript `Date` (and a
 * BSON date read back into one) can hold, about 275 000 years from 1970, for millennia to come.
 */
const MAX_EXPIRES_MS = 8e15;
/** MongoDB stores `expireAfterSeconds` as a 32-bit integer. */
const MAX_EXPIRE_AFTER_SECONDS = 2_147_483_647;

/**
 * The table itself: a class only so that each entry is a property with its TSDoc, which the
 * declaration bundler keeps on a line of its own (in an object literal's type it moves a
 * one-line comment onto the previous property's line, where no editor finds it).
 */
class OptionTable {
  /**
   * MongoDB connection string, used when neither `client` nor `clientPromise` is given.
   * @default 'mongodb://127.0.0.1:27017/test'
   * @example 'mongodb+srv://cluster0.example.net/shop?retryWrites=true'
   */
  readonly uri = sourceOption<string>({
    default: 'mongodb://127.0.0.1:27017/test',
    check: connectionString,
    shown: ({ source }) => (source.kind === 'uri' ? source.uri : undefined),
  });
  /**
   * Options for the `MongoClient` the repository creates from `uri`. Names of drivers older
   * than 6 are translated, with a warning.
   * @default {} (and `serverSelectionTimeoutMS: 3000` unless the URI or these options set it)
   */
  readonly connectionOptions = sourceOption<MongoClientOptions>({
    default: {},
    check: driverOptions,
    shown: ({ source }) => (source.kind === 'uri' ? source.connectionOptions : undefined),
  });
  /** A client you own (connected or not). The repository uses it and never closes it. */
  readonly client = sourceOption<MongoClient | undefined, MongoClient>({
    default: undefined,
    check: mongoClient,
    shown: false,
  });
  /**
   * A client you own, as `client`, once this promise resolves. A promise that rejects stays
   * rejected, so every later operation fails too; give a function returning a new promise
   * instead and each connection attempt calls it again.
   * @example () => MongoClient.connect(uri)
   */
  readonly clientPromise = sourceOption<
    Promise<MongoClient> | (() => Promise<MongoClient>) | undefined,
    () => Promise<MongoClient>
  >({
    default: undefined,
    check: clientPromiseOf,
    shown: false,
  });
  /**
   * Database to store sessions in.
   * @default the database named in the connection string, else `test`
   */
  readonly databaseName = option<string | undefined>({
    default: undefined,
    check: databaseName,
    // Version 5 showed `null` for the connection string's database.
    shown: (resolved) => resolved.databaseName ?? null,
  });
  /**
   * Name of the collection to store sessions in (`repository.collection` is the collection).
   * @default 'sessions'
   */
  readonly collection = option<string, string, 'collectionName'>({
    default: 'sessions',
    check: collectionName,
    field: 'collectionName',
  });
  /**
   * How long a session lives when its cookie has no expiry, in milliseconds.
   * @default 1_209_600_000 (14 days)
   */
  readonly expires = option<number, number, 'expiresMs'>({
    default: 14 * 24 * 60 * 60 * 1000,
    check: boundedNumber(MAX_EXPIRES_MS),
    numeric: true,
    field: 'expiresMs',
  });
  /** Field that holds the session id; any field but `_id` gets a unique index. @default '_id' */
  readonly idField = option<string>({ default: '_id', check: fieldName });
  /** Field that holds the expiry date, indexed by the TTL index. @default 'expires' */
  readonly expiresKey = option<string>({ default: 'expires', check: fieldName });
  /**
   * `expireAfterSeconds` of the TTL index: how long after expiry MongoDB deletes a session, in
   * seconds.
   * @default 0
   */
  readonly expiresAfterSeconds = option<number>({
    default: 0,
    check: nonNegativeInteger(MAX_EXPIRE_AFTER_SECONDS, 'seconds'),
    numeric: true,
  });
  /**
   * Write concern of every write.
   * @default undefined (the client's: by default, majority on replica sets)
   * @example { w: 'majority', wtimeoutMS: 2_000 }
   */
  readonly writeConcern = option<WriteConcernSettings | undefined>({
    default: undefined,
    check: object<WriteConcernSettings>(),
  });
  /**
   * How many operations may be pending at once (waiting for the connection or running); past it,
   * new ones are refused at once with `QueueFullError`, so memory stays bounded while the
   * database is away. Every operation ends by its deadline, so the bound only needs to cover
   * the requests of one deadline: 2 000 is 800 a second over half of the default 5 s (about
   * 9 MB of pending work).
   * @default 2_000
   */
  readonly maxPendingOperations = option<number>({
    default: 2_000,
    check: positiveInteger(),
    numeric: true,
  });
  /**
   * Deadline of every operation, in milliseconds, waiting for the connection included; past it
   * the operation rejects with `OperationTimeoutError`. `0` turns the deadline off. A client the
   * store creates from `uri` also gets `serverSelectionTimeoutMS: 3000` unless the URI or
   * `connectionOptions` set it.
   * @default 5_000
   */
  readonly operationTimeoutMs = option<number>({
    default: 5_000,
    check: nonNegativeInteger(MAX_TIMER_MS, 'milliseconds'),
    numeric: true,
  });
  /**
   * How a session is stored: `'document'` as a BSON document (queryable; version 5's form),
   * `'json'` as a JSON string (connect-mongo's default form), or your own `{ stringify, parse }`.
   * @default 'document'
   * @example { stringify: JSON.stringify, parse: JSON.parse }
   */
  readonly serializer = option<SerializerOption>({ default: 'document', check: serializer });
  /**
   * Who deletes expired sessions: `'native'` MongoDB's TTL monitor, through a TTL index the store
   * creates (on servers without TTL indexes, such as FerretDB 1.x, the store falls back to
   * `'interval'` by itself and says so once); `'interval'` the store, on a timer; `'disabled'`
   * nobody (you do, with `deleteExpired()` or your own index). Reads ignore expired sessions in
   * every mode.
   * @default 'native'
   */
  readonly autoRemove = option<AutoRemoveOption>({
    default: 'native',
    check: oneOf(['native', 'interval', 'disabled']),
  });
  /** How often `'interval'` deletes expired sessions, in milliseconds. @default 60_000 */
  readonly autoRemoveIntervalMs = option<number>({
    default: 60_000,
    check: positiveInteger(MAX_TIMER_MS),
    numeric: true,
  });
  /**
   * Lazy touch: a `touch` within this many milliseconds of the session's last write sends
   * nothing, so an active session costs one write per window instead of one per request. The
   * window never exceeds a tenth of the session's lifetime, so no session seen within nine tenths
   * of its lifetime expires. `0` writes on every touch.
   * @default 60_000
   */
  readonly touchAfterMs = option<number>({
    default: 60_000,
    check: nonNegativeInteger(MAX_EXPIRES_MS, 'milliseconds'),
    numeric: true,
  });
  /**
   * Whether the store creates its indexes (the TTL index and the unique index on a custom
   * `idField`). Turn it off for database users without the right to create indexes, and create
   * them yourself (see the backends guide).
   * @default true
   */
  readonly manageIndexes = option<boolean>({ default: true, check: boolean });
  /**
   * The key each session is stored under, from its session id (connect-mongo's name and meaning):
   * `hashSessionId(secret)` stores the HMAC-SHA-256 of the id, so that a dump of the collection
   * holds no usable cookie. `ids()`, `all()` and the iterator then return stored keys, not
   * session ids. Switching it on (or changing it) in a running deployment logs everyone out:
   * see docs/security.md.
   * @default undefined (the session id itself)
   * @example hashSessionId(process.env.SESSION_ID_SECRET)
   */
  readonly transformId = option<TransformId | undefined>({
    default: undefined,
    check: transformId,
  });
  /**
   * Encryption at rest with AES-256-GCM: `{ keys: [{ id, key }] }`, each key 32 random bytes.
   * The first key encrypts every write; any listed key decrypts, so keys rotate by putting the
   * new one first. Sessions stored in clear are still read (the next write encrypts them); a
   * session that does not decrypt reads as none and is reported (`SessionDecryptionError`). See
   * docs/security.md.
   * @default undefined (sessions stored in clear)
   * @example { keys: [{ id: '2026-01', key: Buffer.from(process.env.SESSION_KEY, 'base64') }] }
   */
  readonly encryption = option<EncryptionOption | undefined, ResolvedEncryption | undefined>({
    default: undefined,
    check: encryptionOption,
  });
  /**
   * How long an ended session's id stays ended, in milliseconds. `destroy` (logout, and
   * express-session's `regenerate` at login) and `destroyWhere` leave a small record of each id
   * they end, so that a request of that session still running cannot store it again when it
   * ends: its `set` or `touch` writes nothing and the store emits `refused`. The record expires
   * like a session after this window; keep it longer than your slowest request. See
   * docs/security.md.
   * @default 3_600_000 (1 hour: Node's HTTP server gives a request 5 minutes to arrive, and the
   * window must outlast the longest request still running, streams and uploads included)
   */
  readonly terminationWindowMs = option<number>({
    default: 60 * 60 * 1000,
    check: positiveInteger(MAX_EXPIRES_MS),
    numeric: true,
  });
  /**
   * Absolute lifetime: a session stored longer ago than this, in milliseconds, is ended however
   * recently it was used (its `get` finds none, its `set` and `touch` write nothing). Counted from
   * the session's first write by this version; sessions stored before have their clock start at
   * their next write.
   * @default undefined (no absolute lifetime)
   * @example 8 * 60 * 60 * 1000 // a working day
   */
  readonly absoluteTimeoutMs = option<number | undefined>({
    default: undefined,
    check: boundedNumber(MAX_EXPIRES_MS),
    numeric: true,
  });
}

export const OPTIONS = Object.freeze(new OptionTable());
