/** This store's option names, unknown names with the nearest known one, and connect-mongo's names. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertNoConnectMongoNames,
  CONNECT_MONGO_NAMES,
  checkOptionNames,
  KNOWN_OPTION_NAMES,
  unknownOptionWarning,
} from '../lib/options/option-names.js';
import type { SessionRepositoryOptions } from '../lib/options/options.js';

const URI = 'mongodb://127.0.0.1:1/';

// Every option of SessionRepositoryOptions must be a known name (else users get a warning for it).
const everyOptionIsKnown: [
  Exclude<keyof SessionRepositoryOptions, (typeof KNOWN_OPTION_NAMES)[number]>,
] extends [never]
  ? true
  : false = true;
void everyOptionIsKnown;

test('every option of this store, autoRemove and transformId are known names', () => {
  const options = Object.fromEntries(KNOWN_OPTION_NAMES.map((name) => [name, undefined]));

  assert.deepEqual(checkOptionNames(options).unknown, []);
  assert.ok(KNOWN_OPTION_NAMES.includes('autoRemove'), 'autoRemove is known');
  assert.ok(KNOWN_OPTION_NAMES.includes('transformId'), 'transformId is known');
});

test('an unknown name is reported with the nearest known name, letter case aside', () => {
  const { unknown } = checkOptionNames({
    uri: 'mongodb://127.0.0.1',
    expire: 1,
    colection: 'c',
    DatabaseName: 'd',
    IDFIELD: 'sid',
    expiresAfterSecnods: 1,
  });

  assert.deepEqual(unknown, [
    { name: 'expire', nearest: 'expires' },
    { name: 'colection', nearest: 'collection' },
    { name: 'DatabaseName', nearest: 'databaseName' },
    { name: 'IDFIELD', nearest: 'idField' },
    { name: 'expiresAfterSecnods', nearest: 'expiresAfterSeconds' },
  ]);
});

test('an unknown name far from every known one has no nearest name', () => {
  assert.deepEqual(checkOptionNames({ secret: 's', unset: 'destroy' }).unknown, [
    { name: 'secret', nearest: undefined },
    { name: 'unset', nearest: undefined },
  ]);
});

test("connect-mongo's names are left to assertNoConnectMongoNames, not reported as unknown", () => {
  const options = Object.fromEntries(CONNECT_MONGO_NAMES.map(({ name }) => [name, 1]));

  assert.deepEqual(checkOptionNames(options).unknown, []);
});

test('the unknown-name warning names the option and the nearest known one', () => {
  assert.equal(
    unknownOptionWarning({ name: 'expire', nearest: 'expires' }),
    'connect-mongodb-session: unknown option `expire` is ignored. Did you mean `expires`?',
  );
  assert.equal(
    unknownOptionWarning({ name: 'secret', nearest: undefined }),
    'connect-mongodb-session: unknown option `secret` is ignored.',
  );
});

const CONNECT_MONGO: Record<string, RegExp> = {
  mongoUrl: /`uri`/,
  mongoOptions: /`connectionOptions`/,
  dbName: /`databaseName`/,
  collectionName: /`collection`/,
  ttl: /`expires` \(in milliseconds: `expires: ttl \* 1000`\)/,
  touchAfter: /`touchAfterMs` \(in milliseconds: `touchAfterMs: touchAfter \* 1000`\)/,
  autoRemoveInterval: /`autoRemoveIntervalMs: autoRemoveInterval \* 60_000`/,
  stringify:
    /`stringify: true` is `serializer: 'json'`, `stringify: false` is `serializer: 'document'`/,
  serialize: /`serializer: \{ stringify, parse \}`/,
  unserialize: /`serializer: \{ stringify, parse \}`/,
  crypto: /`encryption`/,
  cryptoAdapter: /`encryption`/,
  writeOperationOptions: /`writeConcern`/,
  timestamps: /`timestamps` has no equivalent/,
};

for (const [name, equivalent] of Object.entries(CONNECT_MONGO)) {
  test(`connect-mongo's ${name} is a TypeError naming this store's equivalent`, () => {
    assert.throws(
      () => assertNoConnectMongoNames({ uri: URI, [name]: 1 }),
      (error: unknown) => {
        assert.ok(error instanceof TypeError, 'a TypeError');
        assert.match(error.message, new RegExp(`connect-mongo's \`${name}\``));
        assert.match(error.message, equivalent);
        return true;
      },
    );
  });
}

test('CONNECT_MONGO_NAMES lists exactly the names refused', () => {
  assert.deepEqual(
    CONNECT_MONGO_NAMES.map(({ name }) => name).sort(),
    Object.keys(CONNECT_MONGO).sort(),
  );
});

test('every connect-mongo name given is named in one TypeError', () => {
  assert.throws(
    () => assertNoConnectMongoNames({ mongoUrl: URI, ttl: 60 }),
    /`mongoUrl`, `ttl`.*`uri`.*`expires`/,
  );
});

test("this store's own options and connect-mongo's shared names do not throw", () => {
  assert.doesNotThrow(() =>
    assertNoConnectMongoNames({
      uri: URI,
      client: undefined,
      clientPromise: undefined,
      autoRemove: 'native',
      transformId: undefined,
    }),
  );
});
