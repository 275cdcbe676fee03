/** Session ids as stored: `transformId`, `hashSessionId`, and the codec's `storedId`, without a database. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { createSessionCodec } from '../lib/codec/session-codec.js';
import { hashSessionId } from '../lib/codec/session-ids.js';
import { InvalidSessionIdError } from '../lib/errors/classes.js';
import type { TransformId } from '../lib/options/option-types.js';
import { resolveOptions, type SessionRepositoryOptions } from '../lib/options/options.js';

const SID = 'sid-marker-4b2f';
const SECRET = 'secret-marker-e81c';

function codecWith(transformId?: TransformId) {
  return createSessionCodec({
    serializer: 'document',
    expiresMs: 60_000,
    ...(transformId === undefined ? {} : { transformId }),
  });
}

/** Asserts an `InvalidSessionIdError` whose message matches and whose printed form quotes no marker. */
function assertRefusedId(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof InvalidSessionIdError, `got ${inspect(error)}`);
    assert.ok(error instanceof TypeError, 'it is a TypeError');
    assert.equal(error.code, 'INVALID_SESSION_ID');
    assert.match(error.message, message);
    const printed = `${inspect(error, { depth: Infinity })}${String(error)}${JSON.stringify(error)}`;
    for (const marker of [SID, SECRET]) {
      assert.equal(printed.includes(marker), false, `the error quotes no ${marker}`);
    }
    return true;
  });
}

test('hashSessionId gives the base64url HMAC-SHA-256 of the id: 43 characters, no padding', () => {
  const hashed = hashSessionId(SECRET)(SID);
  assert.equal(hashed, createHmac('sha256', SECRET).update(SID).digest('base64url'));
  assert.match(hashed, /^[A-Za-z0-9_-]{43}$/);
});

test('hashSessionId is deterministic, and depends on the secret and the id', () => {
  const hash = hashSessionId(SECRET);
  assert.equal(hash(SID), hash(SID));
  assert.notEqual(hash(SID), hash(`${SID}x`));
  assert.notEqual(hash(SID), hashSessionId(`${SECRET}x`)(SID));
});

test('a string secret and the Buffer or Uint8Array of its bytes give the same hashes', () => {
  const bytes = Buffer.from(SECRET);
  assert.equal(hashSessionId(bytes)(SID), hashSessionId(SECRET)(SID));
  assert.equal(hashSessionId(new Uint8Array(bytes))(SID), hashSessionId(SECRET)(SID));
});

test('the secret is copied: changing the given buffer later changes nothing', () => {
  const bytes = Buffer.from(SECRET);
  const hash = hashSessionId(bytes);
  const before = hash(SID);
  bytes.fill(0);
  assert.equal(hash(SID), before);
});

test('the function prints no secret', () => {
  const hash = hashSessionId(SECRET);
  assert.equal(inspect(hash, { showHidden: true, depth: Infinity }).includes(SECRET), false);
  assert.equal(String(hash).includes(SECRET), false);
});

for (const [label, secret] of [
  ['an empty string', ''],
  ['an empty Buffer', Buffer.alloc(0)],
  ['a number', 42],
  ['undefined', undefined],
] as const) {
  test(`hashSessionId refuses ${label} as the secret with a TypeError`, () => {
    assert.throws(
      () => hashSessionId(secret as string),
      (error: unknown) =>
        error instanceof TypeError && /secret of `hashSessionId\(secret\)`/.test(error.message),
    );
  });
}

test('without transformId the stored id is the session id', () => {
  assert.equal(codecWith().storedId(SID), SID);
});

test('with transformId the stored id is transformId(sid)', () => {
  const hash = hashSessionId(SECRET);
  assert.equal(codecWith(hash).storedId(SID), hash(SID));
  assert.notEqual(codecWith(hash).storedId(SID), SID);
});

test('the session id is checked before transformId sees it', () => {
  let calls = 0;
  const codec = codecWith((sid) => {
    calls += 1;
    return sid;
  });
  for (const bad of [42, '', { $ne: null }, 'x'.repeat(4097)]) {
    assertRefusedId(() => codec.storedId(bad), /a session id to be a non-empty string/);
  }
  assert.equal(calls, 0);
});

for (const [label, result, got] of [
  ['a number', 7, /got a number/],
  ['an empty string', '', /got a string of length 0/],
  ['undefined', undefined, /got undefined/],
  ['an object quoting the id', { id: SID }, /got an object/],
] as const) {
  test(`a transformId returning ${label} is an InvalidSessionIdError that quotes no id`, () => {
    const codec = codecWith(() => result as unknown as string);
    assertRefusedId(
      () => codec.storedId(SID),
      new RegExp(`\`transformId\\(sid\\)\` to return a non-empty string, ${got.source}`),
    );
  });
}

test('a transformId that throws is an InvalidSessionIdError whose cause keeps no message', () => {
  const codec = codecWith((sid) => {
    throw new RangeError(`cannot transform ${sid} with ${SECRET}`);
  });
  assertRefusedId(() => codec.storedId(SID), /got a thrown error/);
  try {
    codec.storedId(SID);
  } catch (error) {
    assert.equal((error as Error & { cause: Error }).cause.name, 'RangeError');
  }
});

test('transformId must be a function: a TypeError at construction naming the option', () => {
  for (const transformId of ['sha256', 42, {}]) {
    assert.throws(
      () => resolveOptions({ transformId } as unknown as SessionRepositoryOptions),
      /Expected `transformId` to be a function/,
    );
  }
  assert.equal(resolveOptions({ transformId: undefined }).transformId, undefined);
  const hash = hashSessionId(SECRET);
  assert.equal(resolveOptions({ transformId: hash }).transformId, hash);
});

test('an id that is not well-formed UTF-16 is refused before transformId sees it, quoting nothing', () => {
  let calls = 0;
  const codec = codecWith((sid) => {
    calls += 1;
    return sid;
  });
  for (const bad of [`${SID}\uD800`, `\uDC00${SID}`, `${SID}\uDE00\uD83D`]) {
    assertRefusedId(
      () => codec.storedId(bad),
      /a session id to be well-formed UTF-16 .*got a string of length \d+ with a lone surrogate/,
    );
    assertRefusedId(() => codecWith().storedId(bad), /well-formed UTF-16/);
  }
  assert.equal(calls, 0);
  assert.equal(codec.storedId(`${SID}\u{1F600}`), `${SID}\u{1F600}`, 'a surrogate pair is fine');
});

test('a transformId returning a string that is not well-formed is an InvalidSessionIdError', () => {
  const codec = codecWith((sid) => `${sid}\uD800`);
  assertRefusedId(
    () => codec.storedId(SID),
    /`transformId\(sid\)` to return well-formed UTF-16 .*got a string of length 16 with a lone surrogate/,
  );
});

test("hashSessionId's function itself refuses an id with a lone surrogate: no two ids share a hash", () => {
  const hash = hashSessionId(SECRET);
  assertRefusedId(() => hash(`${SID}\uD800`), /well-formed UTF-16/);
  assert.notEqual(hash(`${SID}\uFFFD`), hash(`${SID}\u{1F600}`));
});

for (const [label, secret, got] of [
  ['a 15-byte string', 's'.repeat(15), /got a string of 15 bytes/],
  ['a 15-byte Buffer', Buffer.alloc(15, 1), /got a Buffer of 15 bytes/],
  ['a string of 15 UTF-8 bytes in 8 characters', `${'é'.repeat(7)}s`, /got a string of 15 bytes/],
] as const) {
  test(`hashSessionId refuses ${label} as the secret: at least 16 bytes`, () => {
    assert.throws(
      () => hashSessionId(secret),
      (error: unknown) =>
        error instanceof TypeError &&
        /at least 16 bytes/.test(error.message) &&
        got.test(error.message),
    );
  });
}

test('hashSessionId takes a secret of 16 bytes, counting a string in UTF-8', () => {
  for (const secret of ['s'.repeat(16), 'é'.repeat(8), Buffer.alloc(16, 1), new Uint8Array(16)]) {
    assert.match(hashSessionId(secret)(SID), /^[A-Za-z0-9_-]{43}$/);
  }
});
