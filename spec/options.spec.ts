import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { KNOWN_OPTION_NAMES } from '../lib/options/option-names.js';
import {
  DEFAULT_EXPIRES_MS,
  resolveOptions,
  type SessionRepositoryOptions,
} from '../lib/options/options.js';
import { SessionRepository } from '../lib/repository/session-repository.js';

test('defaults match version 5: local test database, sessions collection, 14 days, _id, expires, 0 s', () => {
  const resolved = resolveOptions();
  assert.deepEqual(resolved.source, {
    kind: 'uri',
    uri: 'mongodb://127.0.0.1:27017/test',
    connectionOptions: { serverSelectionTimeoutMS: 3000 },
  });
  assert.equal(resolved.collectionName, 'sessions');
  assert.equal(resolved.collection, 'sessions', 'the deprecated name still answers');
  assert.equal(resolved.expiresMs, DEFAULT_EXPIRES_MS);
  assert.equal(resolved.idField, '_id');
  assert.equal(resolved.expiresKey, 'expires');
  assert.equal(resolved.expiresAfterSeconds, 0);
  assert.equal(resolved.databaseName, undefined);
});

test('every option given as undefined (as `process.env.X` gives it) means the default, with no warning', (t) => {
  const warned = t.mock.method(process, 'emitWarning');
  const allUndefined = Object.fromEntries(KNOWN_OPTION_NAMES.map((name) => [name, undefined]));
  assert.deepEqual(resolveOptions(allUndefined), resolveOptions({}));
  assert.equal(warned.mock.callCount(), 0, 'no option was warned about');
});

test('resolved options are frozen', () => {
  const resolved = resolveOptions({ collection: 'c' });
  assert.ok(Object.isFrozen(resolved));
  assert.ok(Object.isFrozen(resolved.source));
});

test('an explicit 0 for expiresAfterSeconds is kept, not replaced by a default', () => {
  assert.equal(resolveOptions({ expiresAfterSeconds: 0 }).expiresAfterSeconds, 0);
  assert.equal(resolveOptions({ expiresAfterSeconds: 3600 }).expiresAfterSeconds, 3600);
});

const bad: Array<[string, Record<string, unknown>, RegExp]> = [
  ['expires of 0', { expires: 0 }, /`expires`.*positive finite number of milliseconds.*`0`/],
  ['expires as a string', { expires: '14d' }, /`expires`.*got `14d` \(string\)/],
  ['expires of Infinity', { expires: Number.POSITIVE_INFINITY }, /`expires`/],
  ['a negative expiresAfterSeconds', { expiresAfterSeconds: -1 }, /`expiresAfterSeconds`.*`-1`/],
  ['a fractional expiresAfterSeconds', { expiresAfterSeconds: 1.5 }, /`expiresAfterSeconds`/],
  ['an empty collection', { collection: '' }, /`collection`.*non-empty string/],
  ['a numeric databaseName', { databaseName: 5 }, /`databaseName`.*\(number\)/],
  ['a dotted idField', { idField: 'a.b' }, /`idField`.*top-level field/],
  ['a $-prefixed expiresKey', { expiresKey: '$x' }, /`expiresKey`/],
  [
    'idField equal to expiresKey',
    { idField: 'k', expiresKey: 'k' },
    /`idField` and `expiresKey` to differ/,
  ],
  ['idField named session', { idField: 'session' }, /`idField`/],
  ['a uri of another scheme', { uri: 'http://example.invalid' }, /`uri`.*mongodb:\/\//],
  [
    'both uri and client',
    { uri: 'mongodb://127.0.0.1/', client: {} },
    /one of `uri`, `client` or `clientPromise`/,
  ],
  ['a client that is no MongoClient', { client: { hello: true } }, /`client` to be a MongoClient/],
  ['a clientPromise that is no promise', { clientPromise: 42 }, /`clientPromise`/],
  [
    'a zero maxPendingOperations',
    { maxPendingOperations: 0 },
    /`maxPendingOperations`.*positive integer/,
  ],
  [
    'connectionOptions that are no object',
    { connectionOptions: 'x' },
    /`connectionOptions`.*object/,
  ],
  [
    'an expires past what a Date can hold (a natural "never")',
    { expires: Number.MAX_SAFE_INTEGER },
    /`expires`.*at most 8000000000000000/,
  ],
  [
    'an expiresAfterSeconds past 32 bits',
    { expiresAfterSeconds: 2 ** 40 },
    /`expiresAfterSeconds`.*from 0 to 2147483647/,
  ],
  ['a collection starting with $', { collection: '$bad' }, /`collection`.*no \$ or NUL/],
  ['a collection in system.', { collection: 'system.sessions' }, /`collection`.*system\./],
  ['a collection with NUL', { collection: 'a\0b' }, /`collection`/],
  ['a collection name too long', { collection: 'c'.repeat(300) }, /`collection`.*255 bytes/],
  ['a databaseName with a slash', { databaseName: 'a/b' }, /`databaseName`.*MongoDB database name/],
  ['a databaseName with a dot', { databaseName: 'a.b' }, /`databaseName`/],
  ['a databaseName of 64 bytes', { databaseName: 'd'.repeat(64) }, /`databaseName`.*fewer than 64/],
  ['a negative operationTimeoutMs', { operationTimeoutMs: -1 }, /`operationTimeoutMs`/],
  ['a fractional operationTimeoutMs', { operationTimeoutMs: 1.5 }, /`operationTimeoutMs`/],
  ['an unknown serializer name', { serializer: 'bson' }, /`serializer`.*'document', 'json'/],
  ['a serializer without parse', { serializer: { stringify: String } }, /`serializer`/],
  [
    "connect-mongo's autoRemove 'interval' misspelt",
    { autoRemove: 'intervals' },
    /`autoRemove` to be one of 'native', 'interval', 'disabled'/,
  ],
  ['an autoRemoveIntervalMs of 0', { autoRemoveIntervalMs: 0 }, /`autoRemoveIntervalMs`.*positive/],
  [
    'an autoRemoveIntervalMs past what a timer keeps',
    { autoRemoveIntervalMs: 2 ** 31 },
    /`autoRemoveIntervalMs`.*at most 2147483647/,
  ],
  ['a negative touchAfterMs', { touchAfterMs: -1 }, /`touchAfterMs`/],
  ['a touchAfterMs in seconds as a string', { touchAfterMs: '1h' }, /`touchAfterMs`/],
  [
    'a manageIndexes that is no boolean',
    { manageIndexes: 'no' },
    /`manageIndexes` to be true or false/,
  ],
  [
    "idField 'expires' in the Cosmos DB mode",
    { expiresKey: '_ts', idField: 'expires' },
    /Cosmos DB mode/,
  ],
  ['a terminationWindowMs of 0', { terminationWindowMs: 0 }, /`terminationWindowMs`.*positive/],
  ['a negative terminationWindowMs', { terminationWindowMs: -1 }, /`terminationWindowMs`/],
  ['a fractional terminationWindowMs', { terminationWindowMs: 1.5 }, /`terminationWindowMs`/],
  ['a terminationWindowMs of NaN', { terminationWindowMs: Number.NaN }, /`terminationWindowMs`/],
  ['a terminationWindowMs in words', { terminationWindowMs: '1h' }, /`terminationWindowMs`/],
  [
    'a terminationWindowMs past what a Date can hold',
    { terminationWindowMs: Number.MAX_SAFE_INTEGER },
    /`terminationWindowMs`.*at most 8000000000000000/,
  ],
  ['an absoluteTimeoutMs of 0', { absoluteTimeoutMs: 0 }, /`absoluteTimeoutMs`.*positive finite/],
  ['a negative absoluteTimeoutMs', { absoluteTimeoutMs: -5 }, /`absoluteTimeoutMs`/],
  ['an absoluteTimeoutMs of NaN', { absoluteTimeoutMs: Number.NaN }, /`absoluteTimeoutMs`/],
  [
    'an absoluteTimeoutMs of Infinity',
    { absoluteTimeoutMs: Number.POSITIVE_INFINITY },
    /`absoluteTimeoutMs`/,
  ],
  ['an absoluteTimeoutMs in words', { absoluteTimeoutMs: 'a day' }, /`absoluteTimeoutMs`/],
  ['an absoluteTimeoutMs that is no number', { absoluteTimeoutMs: true }, /`absoluteTimeoutMs`/],
  ['idField named createdAt', { idField: 'createdAt' }, /`idField`.*`createdAt`/],
  ['expiresKey named lastModified', { expiresKey: 'lastModified' }, /`expiresKey`/],
  ['idField named endedAt', { idField: 'endedAt' }, /`idField`/],
];

test('ended ids are kept for an hour by default; there is no absolute lifetime unless asked for', () => {
  const options = resolveOptions({});
  assert.equal(options.terminationWindowMs, 60 * 60 * 1000);
  assert.equal(options.absoluteTimeoutMs, undefined);
  const given = resolveOptions({
    terminationWindowMs: '600000' as unknown as number,
    absoluteTimeoutMs: '86400000.5' as unknown as number,
  });
  assert.deepEqual(
    [given.terminationWindowMs, given.absoluteTimeoutMs],
    [600_000, 86_400_000.5],
    'numeric strings, as version 5 took for its numbers',
  );
  assert.equal(resolveOptions({ absoluteTimeoutMs: 8 * 3_600_000 }).absoluteTimeoutMs, 28_800_000);
});

test('expiry options default to native removal every minute, a one-minute lazy touch and managed indexes', () => {
  const options = resolveOptions({});
  assert.equal(options.autoRemove, 'native');
  assert.equal(options.autoRemoveIntervalMs, 60_000);
  assert.equal(options.touchAfterMs, 60_000);
  assert.equal(options.manageIndexes, true);
  const given = resolveOptions({
    autoRemove: 'interval',
    autoRemoveIntervalMs: '5000' as unknown as number,
    touchAfterMs: 0,
    manageIndexes: false,
  });
  assert.deepEqual(
    [given.autoRemove, given.autoRemoveIntervalMs, given.touchAfterMs, given.manageIndexes],
    ['interval', 5_000, 0, false],
  );
});

for (const [label, options, message] of bad) {
  test(`${label} throws a TypeError naming the option`, () => {
    assert.throws(
      () => resolveOptions(options as SessionRepositoryOptions),
      (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, message);
        return true;
      },
    );
  });
}

test('operationTimeoutMs defaults to 5 s; 0 turns the deadline off', () => {
  assert.equal(resolveOptions().operationTimeoutMs, 5_000);
  assert.equal(resolveOptions({ operationTimeoutMs: 0 }).operationTimeoutMs, 0);
});

test('serializer defaults to document; json and a custom one are kept', () => {
  const custom = { stringify: JSON.stringify, parse: JSON.parse };
  assert.equal(resolveOptions().serializer, 'document');
  assert.equal(resolveOptions({ serializer: 'json' }).serializer, 'json');
  assert.equal(resolveOptions({ serializer: custom }).serializer, custom);
});

test('the longest expires and expiresAfterSeconds are accepted', () => {
  assert.equal(resolveOptions({ expires: 8e15 }).expiresMs, 8e15);
  assert.equal(
    resolveOptions({ expiresAfterSeconds: 2_147_483_647 }).expiresAfterSeconds,
    2_147_483_647,
  );
});

test('a client the store creates waits 3 s for a server unless the URI or connectionOptions say otherwise', () => {
  const created = new SessionRepository({ uri: 'mongodb://127.0.0.1:1/' });
  assert.equal(created.client?.options.serverSelectionTimeoutMS, 3_000);
  const fromUri = new SessionRepository({
    uri: 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1234',
  });
  assert.equal(fromUri.client?.options.serverSelectionTimeoutMS, 1_234);
  const fromOptions = new SessionRepository({
    uri: 'mongodb://127.0.0.1:1/',
    connectionOptions: { serverSelectionTimeoutMS: 30_000 },
  });
  assert.equal(fromOptions.client?.options.serverSelectionTimeoutMS, 30_000);
  const lowerCase = new SessionRepository({
    uri: 'mongodb://127.0.0.1:1/',
    connectionOptions: { serverselectiontimeoutms: 20_000 } as MongoClientOptions,
  });
  assert.equal(lowerCase.client?.options.serverSelectionTimeoutMS, 20_000);
});

test('explicit undefined options mean the defaults', () => {
  const resolved = resolveOptions({
    uri: undefined,
    collection: undefined,
    expires: undefined,
    operationTimeoutMs: undefined,
    serializer: undefined,
  });
  assert.equal(resolved.collectionName, 'sessions');
  assert.equal(resolved.expiresMs, DEFAULT_EXPIRES_MS);
});

test('a connection string the driver cannot parse throws a TypeError at construction', () => {
  assert.throws(() => new SessionRepository({ uri: 'mongodb://' }), TypeError);
});

test('a client passed in is used as it is', () => {
  const client = new MongoClient('mongodb://127.0.0.1:1/');
  const repository = new SessionRepository({ client });
  assert.equal(repository.client, client);
});

test("connectionOptions resolve to a copy with the same values, the caller's object untouched", () => {
  const auth = { username: 'alice', password: 'pw' };
  const given = { auth, appName: 'shop' };
  const { source } = resolveOptions({ connectionOptions: given });
  assert.ok(source.kind === 'uri');
  assert.notEqual(source.connectionOptions, given);
  assert.deepEqual(source.connectionOptions, {
    auth: { username: 'alice', password: 'pw' },
    appName: 'shop',
    serverSelectionTimeoutMS: 3000,
  });
  assert.deepEqual(given, { auth: { username: 'alice', password: 'pw' }, appName: 'shop' });
  assert.equal(Object.getOwnPropertyDescriptor(auth, 'password')?.value, 'pw');
  const client = new MongoClient(source.uri, source.connectionOptions);
  assert.equal(client.options.credentials?.password, 'pw', 'the driver reads the copy in full');
});
