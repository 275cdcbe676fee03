import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MongoClient } from 'mongodb';
import {
  DEFAULT_EXPIRES_MS,
  resolveOptions,
  type SessionRepositoryOptions,
} from '../lib/options.js';
import { SessionRepository } from '../lib/session-repository.js';

test('defaults match version 5: local test database, sessions collection, 14 days, _id, expires, 0 s', () => {
  const resolved = resolveOptions();
  assert.deepEqual(resolved.source, {
    kind: 'uri',
    uri: 'mongodb://127.0.0.1:27017/test',
    connectionOptions: { serverSelectionTimeoutMS: 3000 },
  });
  assert.equal(resolved.collection, 'sessions');
  assert.equal(resolved.expiresMs, DEFAULT_EXPIRES_MS);
  assert.equal(resolved.idField, '_id');
  assert.equal(resolved.expiresKey, 'expires');
  assert.equal(resolved.expiresAfterSeconds, 0);
  assert.equal(resolved.databaseName, undefined);
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
];

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

test('a connection string the driver cannot parse throws a TypeError at construction', () => {
  assert.throws(() => new SessionRepository({ uri: 'mongodb://' }), TypeError);
});

test('a client passed in is used as it is', () => {
  const client = new MongoClient('mongodb://127.0.0.1:1/');
  const repository = new SessionRepository({ client });
  assert.equal(repository.client, client);
});
