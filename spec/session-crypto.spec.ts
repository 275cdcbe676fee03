/**
 * Encryption at rest, in the codec alone (no database): what is stored, what reads back, and how
 * every session that does not decrypt is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { inspect, types } from 'node:util';
import { BSON } from 'mongodb';
import {
  createSessionCodec,
  MAX_DOCUMENT_BYTES,
  type SessionCodecOptions,
} from '../lib/codec/session-codec.js';
import { isSealed, SEALED_SUBTYPE } from '../lib/codec/session-crypto.js';
import {
  InvalidSessionError,
  SessionDecryptionError,
  UnreadableSessionError,
} from '../lib/errors/classes.js';
import { type EncryptionOption, encryptionOption } from '../lib/options/encryption-option.js';
import {
  optionsView,
  resolveOptions,
  type SessionRepositoryOptions,
} from '../lib/options/options.js';

const HOUR = 60 * 60 * 1000;
const NOW = Date.UTC(2030, 0, 1);
const IN_AN_HOUR = new Date(NOW + HOUR);
const VALUE = 'value-marker-5d1e';
const KEY_NAME = 'key-marker-93ab';
const SID = 'sid-marker-0c77';

const oldKey = { id: '2025-01', key: randomBytes(32) };
const newKey = { id: '2026-06', key: randomBytes(32) };

function codecOf(
  keys: EncryptionOption['keys'] | undefined,
  options: Partial<SessionCodecOptions> = {},
) {
  return createSessionCodec({
    serializer: 'document',
    expiresMs: HOUR,
    ...(keys === undefined ? {} : { encryption: encryptionOption({ keys }) }),
    ...options,
  });
}

type Codec = ReturnType<typeof codecOf>;

const session = () => ({
  cookie: { expires: IN_AN_HOUR, path: '/', httpOnly: true },
  [KEY_NAME]: { value: VALUE, at: new Date(NOW), bytes: Buffer.from([0, 1, 255]), big: 2n ** 62n },
});

/** The stored `session` field after a trip through the driver's BSON, as a read sees it. */
function throughBson(codec: Codec, stored: unknown): unknown {
  const bytes = BSON.serialize({ session: stored }, { ignoreUndefined: true });
  return BSON.deserialize(bytes, codec.readOptions).session;
}

function storedBy(codec: Codec, id = SID, given: object = session()): unknown {
  return throughBson(codec, codec.encode(id, given, NOW).session);
}

/** The sealed bytes of a stored value. */
function bytesOf(stored: unknown): Buffer {
  assert.ok(isSealed(stored), `a sealed session, got ${inspect(stored)}`);
  return Buffer.from(
    types.isUint8Array(stored) ? stored : stored.buffer.subarray(0, stored.position),
  );
}

function assertUndecryptable(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof SessionDecryptionError, `got ${inspect(error)}`);
    assert.ok(error instanceof UnreadableSessionError, 'it is an UnreadableSessionError');
    assert.equal(error.code, 'SESSION_UNDECRYPTABLE');
    assert.match(error.message, message);
    for (const marker of [VALUE, KEY_NAME, SID, oldKey.id, newKey.id]) {
      assert.ok(!inspect(error, { depth: Infinity }).includes(marker), `no ${marker} in the error`);
    }
    return true;
  });
}

describe('what is stored', () => {
  test('the session field is one binary of the user-defined subtype, holding no session key or value', () => {
    const codec = codecOf([newKey]);
    const written = codec.encode(SID, session(), NOW).session;
    assert.ok(written instanceof BSON.Binary, 'a BSON Binary');
    assert.equal(written.sub_type, SEALED_SUBTYPE);
    const stored = throughBson(codec, written);
    const document = BSON.serialize({ _id: SID, session: stored, expires: IN_AN_HOUR });
    for (const marker of [VALUE, KEY_NAME]) {
      assert.equal(Buffer.from(document).includes(marker), false, `no ${marker} in the BSON`);
    }
  });

  test('the same session encrypts differently every time (a fresh IV per write)', () => {
    const codec = codecOf([newKey]);
    const first = bytesOf(storedBy(codec));
    const second = bytesOf(storedBy(codec));
    assert.notDeepEqual(first, second);
  });

  test('the string forms are encrypted too', () => {
    for (const serializer of ['json', { stringify: JSON.stringify, parse: JSON.parse }] as const) {
      const codec = codecOf([newKey], { serializer });
      const given = { cookie: { expires: IN_AN_HOUR.toISOString() }, [KEY_NAME]: VALUE };
      const stored = storedBy(codec, SID, given);
      assert.equal(bytesOf(stored).includes(VALUE), false);
      assert.deepStrictEqual(codec.decode(stored, SID), given);
    }
  });

  test('touch writes the whole session, encrypted, as the string forms do', () => {
    const codec = codecOf([newKey]);
    const { set, expires } = codec.encodeTouch(SID, session(), NOW);
    assert.deepEqual(Object.keys(set), ['session']);
    assert.deepEqual(expires, IN_AN_HOUR);
    assert.deepStrictEqual(codec.decode(throughBson(codec, set.session), SID), session());
  });

  test('a session over 16 MiB is refused before it is encrypted', () => {
    const codec = codecOf([newKey]);
    const blob = 'x'.repeat(MAX_DOCUMENT_BYTES);
    assert.throws(() => codec.encode(SID, { [KEY_NAME]: blob }, NOW), InvalidSessionError);
  });

  test('a session that fits only in clear is refused once encrypted', () => {
    const codec = codecOf([newKey]);
    const expires = IN_AN_HOUR;
    const documentOf = (text: string) => ({
      _id: SID,
      session: { cookie: { expires }, text },
      expires,
      // The audit times every write stores beside the session.
      createdAt: expires,
      lastModified: expires,
    });
    const text = 'x'.repeat(MAX_DOCUMENT_BYTES - BSON.calculateObjectSize(documentOf('')));
    assert.doesNotThrow(() => codecOf(undefined).encode(SID, { cookie: { expires }, text }, NOW));
    assert.throws(
      () => codec.encode(SID, { cookie: { expires }, text }, NOW),
      (error: unknown) =>
        error instanceof InvalidSessionError && /bytes, more than/.test(error.message),
    );
  });
});

describe('what reads back', () => {
  test('the document form round-trips exactly: Dates, Buffers, BigInts and escaped keys', () => {
    const codec = codecOf([newKey]);
    const given = { ...session(), 'a.b': { $x: 1 } };
    assert.deepStrictEqual(codec.decode(storedBy(codec, SID, given), SID), given);
  });

  test('after rotation, a session written with the old key is read, and the next write uses the new one', () => {
    const before = codecOf([oldKey]);
    const after = codecOf([newKey, oldKey]);
    const stored = storedBy(before);
    assert.deepStrictEqual(after.decode(stored, SID), session());
    const rewritten = storedBy(after);
    const bytes = bytesOf(rewritten);
    assert.equal(bytes.toString('utf8', 3, 3 + (bytes[2] ?? 0)), newKey.id, 'the new key id');
    // Once every session is rewritten, the old key can go.
    assert.deepStrictEqual(codecOf([newKey]).decode(rewritten, SID), session());
  });

  test('sessions stored in clear, as documents or JSON strings, are read with encryption on', () => {
    const codec = codecOf([newKey]);
    const clear = throughBson(codec, codecOf(undefined).encode(SID, session(), NOW).session);
    assert.deepStrictEqual(codec.decode(clear, SID), session());
    const json = JSON.stringify({
      cookie: { expires: IN_AN_HOUR.toISOString() },
      [KEY_NAME]: VALUE,
    });
    assert.deepStrictEqual(codec.decode(json, SID), JSON.parse(json));
  });
});

describe('what does not decrypt', () => {
  const codec = codecOf([newKey, oldKey]);

  test('a key no longer listed', () => {
    assertUndecryptable(
      () => codecOf([newKey]).decode(storedBy(codecOf([oldKey])), SID),
      /key whose id is not among `encryption.keys`/,
    );
  });

  test('another key under the same id', () => {
    const impostor = { id: newKey.id, key: randomBytes(32) };
    assertUndecryptable(
      () => codec.decode(storedBy(codecOf([impostor])), SID),
      /does not authenticate/,
    );
  });

  test("a sealed session copied into another session's document", () => {
    assertUndecryptable(
      () => codec.decode(storedBy(codec, 'another-id'), SID),
      /does not authenticate/,
    );
  });

  test('any byte altered: header, key id, IV, tag or ciphertext', () => {
    const bytes = bytesOf(storedBy(codec));
    const idEnd = 3 + (bytes[2] ?? 0);
    const positions = [1, 3, idEnd, idEnd + 12, idEnd + 28, bytes.length - 1];
    for (const position of positions) {
      const altered = Buffer.from(bytes);
      altered[position] = (altered[position] ?? 0) ^ 1;
      assertUndecryptable(
        () => codec.decode(new BSON.Binary(altered, SEALED_SUBTYPE), SID),
        /does not authenticate|not among|malformed/,
      );
    }
  });

  test('truncated, of another version, or empty', () => {
    const bytes = bytesOf(storedBy(codec));
    const cases: Array<[Buffer, RegExp]> = [
      [bytes.subarray(0, 20), /truncated/],
      [Buffer.concat([Buffer.from([9]), bytes.subarray(1)]), /version 9/],
      [Buffer.alloc(0), /truncated/],
    ];
    for (const [sealed, message] of cases) {
      assertUndecryptable(
        () => codec.decode(new BSON.Binary(sealed, SEALED_SUBTYPE), SID),
        message,
      );
    }
  });

  test('an encrypted session read without `encryption`', () => {
    assertUndecryptable(
      () => codecOf(undefined).decode(storedBy(codec), SID),
      /no `encryption` keys are configured/,
    );
  });
});

describe('the option', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['a string', 'secret', /`encryption` to be \{ keys/],
    ['no keys', { keys: [] }, /at least one key/],
    ['keys not an array', { keys: newKey }, /at least one key/],
    ['a key without id', { keys: [{ key: randomBytes(32) }] }, /`encryption.keys\[0\].id`/],
    ['an empty id', { keys: [{ id: '', key: randomBytes(32) }] }, /`encryption.keys\[0\].id`/],
    [
      'repeated ids',
      { keys: [newKey, { ...oldKey, id: newKey.id }] },
      /`encryption.keys\[1\].id` repeats/,
    ],
    [
      'a 16-byte key',
      { keys: [{ id: 'a', key: randomBytes(16) }] },
      /exactly 32 bytes.*got 16 bytes/,
    ],
    ['a 33-byte key', { keys: [{ id: 'a', key: randomBytes(33) }] }, /got 33 bytes/],
    [
      'a base64 string key',
      { keys: [{ id: 'a', key: randomBytes(32).toString('base64') }] },
      /`encryption.keys\[0\].key`.*decode it first/,
    ],
    ['an array of numbers', { keys: [{ id: 'a', key: [...randomBytes(32)] }] }, /an array of 32/],
  ];
  for (const [label, encryption, message] of bad) {
    test(`${label} is a TypeError naming the option`, () => {
      assert.throws(
        () => resolveOptions({ encryption } as SessionRepositoryOptions),
        (error: unknown) => {
          assert.ok(error instanceof TypeError, `got ${inspect(error)}`);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  test('no message names a key’s bytes, and neither do the resolved options', () => {
    const key = randomBytes(32);
    const forms = [key.toString('hex'), key.toString('base64'), key.toString('base64url')];
    const short = key.subarray(0, 31);
    let message = '';
    try {
      resolveOptions({ encryption: { keys: [{ id: 'a', key: short }] } });
    } catch (error) {
      message = inspect(error, { depth: Infinity });
    }
    assert.match(message, /31 bytes/);
    const options = resolveOptions({ encryption: { keys: [{ id: 'a', key }] } });
    const shown = inspect(options, { depth: Infinity, showHidden: true }) + JSON.stringify(options);
    for (const form of [...forms, key.subarray(0, 31).toString('hex')]) {
      assert.equal(message.includes(form.slice(0, 16)), false, 'the refusal quotes no key bytes');
      assert.equal(shown.includes(form.slice(0, 16)), false, 'the options print no key bytes');
    }
    const hexBytes = [...key.subarray(0, 4)].map((byte) => byte.toString(16).padStart(2, '0'));
    assert.equal(shown.includes(hexBytes.join(' ')), false, 'not as a Buffer prints either');
  });

  test("the store's options show the key ids and no key bytes", () => {
    const key = randomBytes(32);
    const view = optionsView(resolveOptions({ encryption: { keys: [{ id: 'k-2026', key }] } }));
    assert.equal(view.encryption?.keys[0]?.id, 'k-2026');
    const shown = inspect(view, { depth: Infinity });
    assert.match(shown, /k-2026/);
    for (const form of [key.toString('hex'), key.toString('base64')]) {
      assert.equal(shown.includes(form.slice(0, 16)), false, 'no key bytes');
    }
  });

  test('the resolved keys are copies: changing the given buffer later changes nothing', () => {
    const key = randomBytes(32);
    const codec = codecOf([{ id: 'k', key }]);
    const stored = storedBy(codec);
    key.fill(0);
    assert.deepStrictEqual(codec.decode(stored, SID), session());
  });
});
