/**
 * The store's errors print no driver message: `cause` names the driver's error by class, code,
 * codeName and labels only, and the original stays reachable as `driverError`, unprinted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { MongoNetworkError, MongoServerError } from 'mongodb';
import {
  ConnectionError,
  IndexError,
  OperationError,
  SessionStoreError,
  UnreadableSessionError,
} from '../lib/errors/classes.js';
import { SessionRepository } from '../lib/repository/session-repository.js';

const SID = 'SID.MARKER.77a1';
const PASSWORD = 'PW-MARKER-c0de';

/** Every way an error is commonly printed, `console.error` (that is, `util.inspect`) first. */
function printed(error: unknown): string {
  return [
    inspect(error, { depth: Infinity }),
    inspect(error, { depth: Infinity, showHidden: false, getters: true }),
    String(error),
    JSON.stringify(error) ?? '',
    error instanceof Error ? `${error.message}\n${error.stack}` : '',
  ].join('\n');
}

function assertQuotesNo(error: unknown, markers: readonly string[]): void {
  const text = printed(error);
  for (const marker of markers) {
    assert.equal(text.includes(marker), false, `${marker} is printed:\n${text}`);
  }
}

function duplicateKey(): MongoServerError {
  return new MongoServerError({
    ok: 0,
    code: 11000,
    codeName: 'DuplicateKey',
    errmsg: `E11000 duplicate key error collection: app.sessions index: _id_ dup key: { _id: "${SID}" }`,
    keyPattern: { _id: 1 },
    keyValue: { _id: SID },
    errorLabels: ['NoWritesPerformed'],
  });
}

test('an OperationError prints the driver error by class, code, codeName and labels only', () => {
  const error = new OperationError('set', duplicateKey());
  assertQuotesNo(error, [SID]);
  assert.match(error.message, /Session store set failed: MongoServerError \(code 11000\)/);
  const cause = error.cause as Error & Record<string, unknown>;
  assert.equal(cause.name, 'MongoServerError');
  assert.equal(cause.code, 11000);
  assert.equal(cause.codeName, 'DuplicateKey');
  assert.deepEqual(cause.errorLabels, ['NoWritesPerformed']);
});

test('the driver error stays reachable as driverError, exactly as thrown', () => {
  const original = duplicateKey();
  const error = new OperationError('set', original);
  assert.equal(error.driverError, original);
  assert.match((error.driverError as Error).message, new RegExp(SID));
  assert.equal(Object.keys(error).includes('driverError'), false, 'not an own enumerable field');
});

test('a cause chain is summarised at every level', () => {
  const network = new MongoNetworkError(`connection to ${SID} closed`, {
    cause: Object.assign(new Error(`read ECONNRESET ${SID}`), { code: 'ECONNRESET' }),
  });
  const error = new OperationError('get', network);
  assertQuotesNo(error, [SID]);
  const inner = (error.cause as Error).cause as Error & { code?: unknown };
  assert.equal(inner.code, 'ECONNRESET');
});

test('a ConnectionError keeps the reason and blanks the credentials of a connection string', () => {
  const error = new ConnectionError(
    new Error(`Authentication failed for mongodb://ann:${PASSWORD}@db.example:27017/app`),
  );
  assertQuotesNo(error, [PASSWORD]);
  assert.match(error.message, /Authentication failed for mongodb:\/\/<credentials>@db\.example/);
});

test('a uri the driver refuses is a TypeError that prints no password', () => {
  assert.throws(
    () => new SessionRepository({ uri: `mongodb://ann:${PASSWORD}@db.example:port/app` }),
    (error: unknown) => {
      assert.ok(error instanceof TypeError, `got ${inspect(error)}`);
      assertQuotesNo(error, [PASSWORD]);
      return true;
    },
  );
});

test('an IndexError prints no driver message', () => {
  const error = new IndexError(
    'unique',
    'Could not create the unique index',
    new MongoServerError({
      ok: 0,
      code: 11000,
      errmsg: `E11000 duplicate key error index: sid_1 dup key: { sid: "${SID}" }`,
    }),
  );
  assertQuotesNo(error, [SID]);
});

test('an UnreadableSessionError from an unexpected failure prints no message', () => {
  const error = new UnreadableSessionError('the session codec failed', new Error(SID));
  assertQuotesNo(error, [SID]);
});

test("the store's own errors are kept as causes, not summarised", () => {
  const inner = new OperationError('set', duplicateKey());
  const outer = new SessionStoreError('outer', 'OPERATION_FAILED', { cause: inner });
  assert.equal(outer.cause, inner);
  assert.equal(outer.driverError, inner.driverError);
});

test('a cause that is not an Error is named by its type only', () => {
  const error = new OperationError('get', { message: SID, code: 1 });
  assertQuotesNo(error, [SID]);
  assert.equal((error.cause as Error).name, 'object');
});
