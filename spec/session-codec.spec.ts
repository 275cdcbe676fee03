import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import session from 'express-session';
import { BSON } from 'mongodb';
import {
  createSessionCodec,
  escapeKey,
  MAX_DOCUMENT_BYTES,
  type SessionCodecOptions,
  unescapeKey,
} from '../lib/codec/session-codec.js';
import { InvalidSessionError, UnreadableSessionError } from '../lib/errors/classes.js';

const HOUR = 60 * 60 * 1000;
const NOW = Date.UTC(2030, 0, 1);
const IN_AN_HOUR = new Date(NOW + HOUR);
const SECRET = 'secret-7f3a';

function codecOf(options: Partial<SessionCodecOptions> = {}) {
  return createSessionCodec({ serializer: 'document', expiresMs: HOUR, ...options });
}

const documentCodec = codecOf();

/** What a write and a read of the stored field give, without a database: the driver's own BSON. */
function throughBson(session: object, codec = documentCodec): Record<string, unknown> {
  const encoded = codec.encode('sid', session, NOW);
  const bytes = BSON.serialize({ session: encoded.session }, { ignoreUndefined: true });
  return codec.decode(BSON.deserialize(bytes, codec.readOptions).session, 'sid');
}

function storedOf(session: object, codec = documentCodec): unknown {
  return codec.encode('sid', session, NOW).session;
}

/** Asserts an `InvalidSessionError` whose message matches, and that names no key, value or id. */
function assertRefused(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof InvalidSessionError, `got ${inspect(error)}`);
    assert.ok(error instanceof TypeError, 'it is a TypeError');
    assert.equal(error.code, 'INVALID_SESSION');
    assert.match(error.message, message);
    assert.doesNotMatch(inspect(error), new RegExp(SECRET));
    return true;
  });
}

function assertUnreadable(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof UnreadableSessionError, `got ${inspect(error)}`);
    assert.equal(error.code, 'SESSION_UNREADABLE');
    assert.match(error.message, message);
    assert.doesNotMatch(inspect(error), new RegExp(SECRET));
    return true;
  });
}

/** An express-session Cookie, whose constructor the published types do not declare. */
function newCookie(options: session.CookieOptions): session.Cookie {
  const Cookie = session.Cookie as unknown as new (
    options: session.CookieOptions,
  ) => session.Cookie;
  return new Cookie(options);
}

/** `levels` nested objects, the outermost included: `{ n: { n: … { n: 1 } } }`. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { n: 1 };
  for (let level = 1; level < levels; level += 1) value = { n: value };
  return value;
}

describe('the session itself (rule 1)', () => {
  const notSessions: Array<[string, unknown]> = [
    ['null', null],
    ['an array', [SECRET]],
    ['a string', SECRET],
    ['a number', 42],
    ['undefined', undefined],
    ['a Date', new Date()],
    ['a Map', new Map([[SECRET, SECRET]])],
    ['a Buffer', Buffer.from(SECRET)],
  ];
  for (const [label, value] of notSessions) {
    test(`encode refuses ${label} as a session with InvalidSessionError`, () => {
      assertRefused(
        () => documentCodec.encode('sid', value as object, NOW),
        new RegExp(`Expected a session to be an object, got ${label}`),
      );
    });
  }

  test('every serializer refuses a session that is not an object', () => {
    const json = codecOf({ serializer: 'json' });
    assertRefused(() => json.encode('sid', [] as object, NOW), /got an array/);
    assertRefused(() => json.encodeTouch('sid', null as unknown as object, NOW), /got null/);
  });

  test('a class instance is stored as its own enumerable properties and read back as a plain object', () => {
    class Visit {
      views = 3;
      get double() {
        return this.views * 2;
      }
    }
    const back = throughBson(new Visit());
    assert.deepStrictEqual(back, { views: 3 });
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
  });
});

describe('the cookie (rule 2)', () => {
  test('an express-session Cookie is stored in its toJSON form, without its `_expires` field', () => {
    const cookie = newCookie({ maxAge: HOUR, path: '/', httpOnly: true });
    const stored = storedOf({ cookie, views: 1 }) as { cookie: Record<string, unknown> };
    assert.ok(!('_expires' in stored.cookie), 'no _expires field');
    assert.deepStrictEqual(stored.cookie.expires, cookie.expires);
    assert.equal(stored.cookie.httpOnly, true);
  });

  test('an express-session Cookie comes back with its expiry as a Date', () => {
    const cookie = newCookie({ maxAge: HOUR });
    const back = throughBson({ cookie }) as { cookie: { expires: Date; originalMaxAge: number } };
    assert.deepStrictEqual(back.cookie.expires, cookie.expires);
    // The Cookie computes originalMaxAge itself (expires minus now: HOUR, or a millisecond less
    // when the clock ticks in between); the codec must keep exactly what the Cookie holds.
    assert.equal(back.cookie.originalMaxAge, cookie.originalMaxAge);
    assert.ok(Math.abs(HOUR - (cookie.originalMaxAge ?? 0)) <= 5, 'the cookie is an hour long');
  });

  test('a plain cookie is stored as given', () => {
    const cookie = { expires: IN_AN_HOUR, path: '/' };
    assert.equal((storedOf({ cookie }) as { cookie: unknown }).cookie, cookie);
  });

  test('a session without a cookie, or with a null one, is stored as it is', () => {
    assert.deepStrictEqual(throughBson({ views: 1 }), { views: 1 });
    assert.deepStrictEqual(throughBson({ cookie: null, views: 1 }), { cookie: null, views: 1 });
  });

  const notCookies: Array<[string, unknown]> = [
    ['a string', 'abc'],
    ['a number', 5],
    ['a boolean', true],
    ['an array', [IN_AN_HOUR]],
  ];
  for (const [label, cookie] of notCookies) {
    test(`a cookie that is ${label} is refused`, () => {
      assertRefused(
        () => documentCodec.encode('sid', { cookie }, NOW),
        new RegExp(`\`session.cookie\` to be an object, null or undefined, got ${label}`),
      );
    });
  }

  test('a cookie whose toJSON throws is refused, without the message of what it threw', () => {
    const cookie = {
      toJSON: () => {
        throw new Error(SECRET);
      },
    };
    assertRefused(() => documentCodec.encode('sid', { cookie }, NOW), /toJSON\(\)` threw/);
  });

  test('a cookie whose toJSON returns no object is refused', () => {
    const cookie = { toJSON: () => SECRET };
    assertRefused(
      () => documentCodec.encode('sid', { cookie }, NOW),
      /`session.cookie.toJSON\(\)` to return an object, got a string/,
    );
  });
});

describe('the expiry (rule 3)', () => {
  test('a valid Date in cookie.expires is the expiry', () => {
    assert.equal(
      documentCodec.encode('sid', { cookie: { expires: IN_AN_HOUR } }, NOW).expires.getTime(),
      IN_AN_HOUR.getTime(),
    );
  });

  test('a date string in cookie.expires is parsed', () => {
    const { expires } = documentCodec.encode(
      'sid',
      { cookie: { expires: IN_AN_HOUR.toISOString() } },
      NOW,
    );
    assert.equal(expires.getTime(), IN_AN_HOUR.getTime());
  });

  const defaults: Array<[string, object]> = [
    ['no cookie', {}],
    ['a null cookie', { cookie: null }],
    ['a cookie without expires', { cookie: {} }],
    ['undefined expires', { cookie: { expires: undefined } }],
    ['null expires', { cookie: { expires: null } }],
    ['false expires', { cookie: { expires: false } }],
  ];
  for (const [label, value] of defaults) {
    test(`${label} means now plus the expires option`, () => {
      const codec = codecOf({ expiresMs: 5000 });
      assert.equal(codec.encode('sid', value, NOW).expires.getTime(), NOW + 5000);
      assert.equal(codec.encodeTouch('sid', value, NOW).expires.getTime(), NOW + 5000);
    });
  }

  const refused: Array<[string, unknown, RegExp]> = [
    ['true', true, /got a boolean/],
    ['0', 0, /got a number/],
    ['a timestamp', NOW + HOUR, /got a number/],
    ['an object', { at: NOW }, /got an object/],
    ['an invalid Date', new Date(Number.NaN), /got an invalid Date/],
    ['an unparsable string', `${SECRET} never`, /got a string that is not a date/],
    ['an empty string', '', /got a string that is not a date/],
    ['a bigint', 5n, /got a bigint/],
  ];
  for (const [label, expires, message] of refused) {
    test(`${label} in cookie.expires is refused rather than guessed at`, () => {
      for (const codec of [documentCodec, codecOf({ serializer: 'json' })]) {
        assertRefused(() => codec.encode('sid', { cookie: { expires } }, NOW), message);
        assertRefused(() => codec.encodeTouch('sid', { cookie: { expires } }, NOW), message);
      }
    });
  }
});

describe('keys (rule 4)', () => {
  test('keys with a dot, a leading $, a NUL or a % are escaped at every depth, arrays included', () => {
    const stored = storedOf({
      'example.com': { $set: 1, 'a\0b': [{ '50%': { 'x.y': true } }] },
    });
    assert.deepStrictEqual(stored, {
      'example%2Ecom': { '%24set': 1, 'a%00b': [{ '50%25': { 'x%2Ey': true } }] },
    });
  });

  test('a key named _bsontype is escaped, so the driver does not take its object for a BSON value', () => {
    assert.deepStrictEqual(storedOf({ v: { _bsontype: 'ObjectId', id: 1 } }), {
      v: { '%5Fbsontype': 'ObjectId', id: 1 },
    });
  });

  test('a $ that does not lead a key is kept as it is', () => {
    assert.deepStrictEqual(storedOf({ a$: 1, b$c: 2 }), { a$: 1, b$c: 2 });
  });

  test('escaped keys round-trip exactly through BSON', () => {
    const given = {
      'example.com': { $set: 1, 'a\0b': [{ '50%': { 'x.y': true, '%2E': '%2E' } }] },
      _bsontype: 'x',
      $: '',
    };
    assert.deepStrictEqual(throughBson(given), given);
  });

  test('escapeKey is injective and unescapeKey reverses it, for every short key of the awkward characters', () => {
    const alphabet = ['%', '.', '$', '\0', '2', '5', 'E', '4', '0', 'a'];
    let keys = [''];
    const seen = new Map<string, string>();
    for (let length = 0; length <= 4; length += 1) {
      for (const key of keys) {
        const escaped = escapeKey(key);
        assert.equal(unescapeKey(escaped), key);
        assert.ok(
          !escaped.includes('.') && !escaped.includes('\0') && !escaped.startsWith('$'),
          'the escaped key is storable',
        );
        assert.equal(seen.get(escaped) ?? key, key, 'two keys escape alike');
        seen.set(escaped, key);
      }
      keys = keys.flatMap((key) => alphabet.map((character) => key + character));
    }
    for (const key of ['_bsontype', '%5Fbsontype', '%255Fbsontype', '_bsontype.']) {
      assert.notEqual(escapeKey(key), '_bsontype');
      assert.equal(unescapeKey(escapeKey(key)), key);
    }
  });

  test('decode leaves a % that starts none of the escape sequences untouched, as in version 5 documents', () => {
    const stored = { '100%': { 'a%20b': 1, '%2e': 2, 'x%24': 3, '%5F': 4, '%': 5 } };
    assert.deepStrictEqual(documentCodec.decode(stored, 'sid'), stored);
  });

  test('caveat: a version 5 key that literally holds an escape sequence reads back unescaped', () => {
    assert.deepStrictEqual(documentCodec.decode({ 'a%2Eb': 1, '%24x': 2 }, 'sid'), {
      'a.b': 1,
      $x: 2,
    });
  });

  test('a session whose keys need no escaping is not copied', () => {
    const inner = { roles: ['admin'], profile: { name: 'Ann' } };
    const given = { cookie: { expires: IN_AN_HOUR, path: '/' }, user: inner, views: 3 };
    assert.equal(storedOf(given), given);
  });

  test('only the objects on the path to an escaped key are copied', () => {
    const untouched = { deep: { list: [1, 2, 3] } };
    const given = { a: untouched, b: { 'x.y': 1 } };
    const stored = storedOf(given) as typeof given;
    assert.notEqual(stored, given);
    assert.equal(stored.a, untouched);
  });

  test('a stored session whose keys need no unescaping is read without a copy', () => {
    const stored = { cookie: { expires: IN_AN_HOUR }, user: { name: 'Ann' } };
    assert.equal(documentCodec.decode(stored, 'sid'), stored);
  });
});

describe('prototype keys (rule 5)', () => {
  const hostile =
    '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"prototype":3}';

  test('own __proto__, constructor and prototype keys round-trip as own properties', () => {
    const given = JSON.parse(hostile) as Record<string, unknown>;
    const back = throughBson(given);
    assert.deepStrictEqual(back, given);
    assert.ok(Object.hasOwn(back, '__proto__'), '__proto__ is an own property');
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('a copy made to escape a key keeps __proto__ an own property', () => {
    const given = JSON.parse(`{"a.b":1,${hostile.slice(1)}`) as Record<string, unknown>;
    const stored = storedOf(given) as Record<string, unknown>;
    assert.ok(Object.hasOwn(stored, '__proto__'), '__proto__ is an own property');
    assert.equal(Object.getPrototypeOf(stored), Object.prototype);
    assert.deepStrictEqual(throughBson(given), given);
  });

  test('a copy made to unescape a key keeps __proto__ an own property and pollutes nothing', () => {
    const stored = JSON.parse(`{"a%2Eb":{"__proto__":{"polluted":1},"x%2Ey":1}}`) as object;
    const back = documentCodec.decode(stored, 'sid') as { 'a.b': Record<string, unknown> };
    assert.ok(Object.hasOwn(back['a.b'], '__proto__'), '__proto__ is an own property');
    assert.equal(Object.getPrototypeOf(back['a.b']), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('values (rule 6)', () => {
  test('strings, numbers, booleans, null, Dates and nested objects and arrays round-trip', () => {
    const given = {
      s: 'text with \0 NUL',
      n: [0, 1.5, -7, 2 ** 40, Number.MAX_VALUE, Number.MIN_VALUE],
      b: [true, false],
      z: null,
      d: new Date(NOW),
      o: { a: [{ b: [] }, {}] },
    };
    assert.deepStrictEqual(throughBson(given), given);
  });

  test('-0 is left to the driver, which writes it as a double -0', () => {
    assert.ok(Object.is(throughBson({ n: -0 }).n, -0), 'still -0');
  });

  test('a Buffer comes back as a Buffer, and a Uint8Array as a Buffer', () => {
    const back = throughBson({ b: Buffer.from('hi'), u: new Uint8Array([1, 2]) });
    assert.deepStrictEqual(back.b, Buffer.from('hi'));
    assert.deepStrictEqual(back.u, Buffer.from([1, 2]));
  });

  test('a BigInt within 64 bits comes back as a bigint', () => {
    const given = { small: 5n, min: -(2n ** 63n), max: 2n ** 63n - 1n };
    assert.deepStrictEqual(throughBson(given), given);
  });

  test('a BigInt beyond 64 bits is refused instead of being stored as its low 64 bits', () => {
    assertRefused(() => storedOf({ a: { big: 2n ** 70n } }), /a BigInt beyond 64 bits at depth 2/);
    assertRefused(() => storedOf({ big: 2n ** 63n }), /BigInt beyond 64 bits/);
    assertRefused(() => storedOf({ big: -(2n ** 63n) - 1n }), /BigInt beyond 64 bits/);
  });

  test('values of the driver pass through unchanged', () => {
    const given = {
      id: new BSON.ObjectId(),
      long: BSON.Long.fromNumber(5),
      decimal: BSON.Decimal128.fromString('1.5'),
      uuid: new BSON.Binary(Buffer.from('0123456789abcdef'), 4),
    };
    const stored = storedOf(given) as typeof given;
    assert.equal(stored, given);
    const back = throughBson(given);
    assert.ok(back.id instanceof BSON.ObjectId && back.id.equals(given.id), 'the same ObjectId');
    assert.equal(back.long, 5n, 'a Long reads back as a bigint (useBigInt64)');
    assert.equal(String(back.decimal), '1.5');
  });

  test('NaN is refused, naming its depth', () => {
    assertRefused(() => storedOf({ a: [1, Number.NaN] }), /NaN at depth 2/);
  });

  test('Infinity and -Infinity are refused', () => {
    assertRefused(() => storedOf({ a: Number.POSITIVE_INFINITY }), /an infinite number at depth 1/);
    assertRefused(() => storedOf({ a: Number.NEGATIVE_INFINITY }), /an infinite number/);
  });

  test('an invalid Date is refused instead of being stored as 1970', () => {
    assertRefused(() => storedOf({ at: new Date(Number.NaN) }), /an invalid Date at depth 1/);
  });

  test('undefined and function values of objects are dropped', () => {
    const back = throughBson({
      a: undefined,
      f: () => SECRET,
      keep: 1,
      o: { g() {}, u: undefined },
    });
    assert.deepStrictEqual(back, { keep: 1, o: {} });
  });

  test('undefined and functions in arrays become null, so that the indexes stay', () => {
    const stored = storedOf({ list: [1, undefined, () => 2, 3] });
    assert.deepStrictEqual(stored, { list: [1, null, null, 3] });
  });

  test('holes in arrays become null', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    assert.deepStrictEqual(throughBson({ list: [1, , 3] }), { list: [1, null, 3] });
  });

  test('symbol-keyed properties are dropped', () => {
    assert.deepStrictEqual(throughBson({ [Symbol(SECRET)]: 1, keep: 2 }), { keep: 2 });
  });

  const refusedKinds: Array<[string, unknown, RegExp]> = [
    ['a Map', new Map([[SECRET, 1]]), /a Map at depth 2/],
    ['a Set', new Set([SECRET]), /a Set at depth 2/],
    ['a WeakMap', new WeakMap(), /a WeakMap at depth 2/],
    ['a WeakSet', new WeakSet(), /a WeakSet at depth 2/],
    ['a WeakRef', new WeakRef({}), /a WeakRef at depth 2/],
    ['a Promise', Promise.resolve(SECRET), /a Promise at depth 2/],
    ['a symbol', Symbol(SECRET), /a symbol at depth 2/],
    ['a Float32Array', new Float32Array([1]), /a Float32Array at depth 2/],
    ['a Uint16Array', new Uint16Array([1]), /a Uint16Array at depth 2/],
    ['a Uint8ClampedArray', new Uint8ClampedArray([1]), /a Uint8ClampedArray at depth 2/],
    ['an ArrayBuffer', new ArrayBuffer(2), /an ArrayBuffer at depth 2/],
    ['a DataView', new DataView(new ArrayBuffer(2)), /a DataView at depth 2/],
    ['a boxed string', new String(SECRET), /a boxed primitive at depth 2/],
    ['a RegExp with the s flag', /x/s, /a RegExp with flags other than g, i, m at depth 2/],
    ['a RegExp with the u flag', /x/u, /RegExp with flags other than g, i, m/],
  ];
  for (const [label, value, message] of refusedKinds) {
    test(`${label} is refused, named by kind and depth`, () => {
      assertRefused(() => storedOf({ nested: { [SECRET]: value } }), message);
    });
  }

  test('a RegExp with flags g, i and m round-trips', () => {
    const back = throughBson({ pattern: /a.b/gim });
    assert.deepStrictEqual(back, { pattern: /a.b/gim });
  });

  test('a class instance that looks like a BSON value to the driver is stored as its own properties', () => {
    // A value of bson 4 or older, say: a `_bsontype` on its prototype but no version mark.
    class Lookalike {
      readonly id = 7;
      get _bsontype() {
        return 'ObjectID';
      }
    }
    assert.deepStrictEqual(throughBson({ value: new Lookalike() }), { value: { id: 7 } });
  });

  test('a toBSON method is called once and its result checked like any value', () => {
    class Money {
      toBSON() {
        return { cents: 150, currency: 'EUR', 'per.unit': true };
      }
    }
    assert.deepStrictEqual(storedOf({ price: new Money() }), {
      price: { cents: 150, currency: 'EUR', 'per%2Eunit': true },
    });
    class Bad {
      toBSON() {
        return new Set();
      }
    }
    assertRefused(() => storedOf({ price: new Bad() }), /a Set at depth 1/);
  });

  test('a toBSON method that throws is refused, naming its depth', () => {
    const value = {
      toBSON: () => {
        throw new Error(SECRET);
      },
    };
    assertRefused(() => storedOf({ a: { value } }), /a toBSON\(\) method threw at depth 2/);
  });

  test('a circular reference is refused, naming its depth', () => {
    const given: Record<string, unknown> = { a: { b: {} } };
    (given.a as { b: Record<string, unknown> }).b[SECRET] = given;
    assertRefused(() => storedOf(given), /a circular reference at depth 3/);
  });

  test('a circular reference through an array is refused', () => {
    const list: unknown[] = [1];
    list.push(list);
    assertRefused(() => storedOf({ list }), /a circular reference at depth 2/);
  });

  test('one object referenced twice, without a cycle, is stored twice', () => {
    const shared = { name: 'Ann' };
    assert.deepStrictEqual(throughBson({ a: shared, b: [shared] }), {
      a: { name: 'Ann' },
      b: [{ name: 'Ann' }],
    });
  });
});

describe('depth (rule 7)', () => {
  test('a session 99 levels deep, a 100-level document, is accepted', () => {
    const given = nested(99);
    assert.deepStrictEqual(throughBson(given), given);
  });

  test('a session 100 levels deep is refused before the driver sees it', () => {
    assertRefused(() => storedOf(nested(100)), /nesting deeper than the 100 levels.* at depth 99/);
  });

  test('arrays count as levels', () => {
    let value: unknown = 1;
    for (let level = 1; level < 99; level += 1) value = level % 2 === 0 ? { n: value } : [value];
    assert.doesNotThrow(() => storedOf({ n: value }));
    assertRefused(() => storedOf({ n: [value] }), /nesting deeper/);
  });

  test('a cookie too deep is refused by encodeTouch as well', () => {
    const cookie = { expires: IN_AN_HOUR, extra: nested(99) };
    assertRefused(() => documentCodec.encodeTouch('sid', { cookie }, NOW), /nesting deeper/);
  });
});

describe('size (rule 8)', () => {
  /** A session whose stored document takes exactly `bytes` bytes. */
  function sessionOfSize(bytes: number, sid = 'sid', options: Partial<SessionCodecOptions> = {}) {
    const expires = new Date(NOW + HOUR);
    const idField = options.idField ?? '_id';
    const documentOf = (text: string) => ({
      ...(idField === '_id' ? {} : { _id: new BSON.ObjectId() }),
      [idField]: sid,
      session: { cookie: { expires }, text },
      [options.expiresKey ?? 'expires']: expires,
      // The audit times every write stores beside the session.
      createdAt: expires,
      lastModified: expires,
    });
    const base = BSON.calculateObjectSize(documentOf(''));
    const given = documentOf('x'.repeat(bytes - base)).session;
    assert.equal(BSON.calculateObjectSize(documentOf(given.text)), bytes);
    return given;
  }

  test('a document of exactly 16 MiB is accepted', () => {
    assert.doesNotThrow(() => documentCodec.encode('sid', sessionOfSize(MAX_DOCUMENT_BYTES), NOW));
  });

  test('a document one byte over 16 MiB is refused with its size', () => {
    assertRefused(
      () => documentCodec.encode('sid', sessionOfSize(MAX_DOCUMENT_BYTES + 1), NOW),
      /its document would take 16777217 bytes, more than the 16777216/,
    );
  });

  test('the size counts a custom idField, expiresKey and the _id the server adds', () => {
    const options = { idField: 'sessionIdentifier', expiresKey: 'expiresAtTime' };
    const codec = codecOf(options);
    assert.doesNotThrow(() =>
      codec.encode('sid', sessionOfSize(MAX_DOCUMENT_BYTES, 'sid', options), NOW),
    );
    assertRefused(
      () => codec.encode('sid', sessionOfSize(MAX_DOCUMENT_BYTES + 1, 'sid', options), NOW),
      /16777217 bytes/,
    );
  });

  test('the session id counts into the size', () => {
    const sid = 'i'.repeat(1000);
    assertRefused(
      () => documentCodec.encode(sid, sessionOfSize(MAX_DOCUMENT_BYTES + 1, sid), NOW),
      /16777217 bytes/,
    );
  });

  test('multi-byte text is counted in UTF-8 bytes', () => {
    const given = { text: '€'.repeat(Math.ceil(MAX_DOCUMENT_BYTES / 3)) };
    assertRefused(() => documentCodec.encode('sid', given, NOW), /bytes, more than/);
  });

  test('a driver value of no fixed size is counted exactly', () => {
    const given = { blob: new BSON.Binary(Buffer.alloc(MAX_DOCUMENT_BYTES), 0) };
    assertRefused(() => documentCodec.encode('sid', given, NOW), /bytes, more than/);
  });

  test('an array too long to fit is refused before it is walked', () => {
    const list = new Array(MAX_DOCUMENT_BYTES);
    assertRefused(() => storedOf({ list }), /an array too long for a document at depth 1/);
  });

  test('the string forms are held to the same limit', () => {
    const json = codecOf({ serializer: 'json' });
    const given = { text: 'x'.repeat(MAX_DOCUMENT_BYTES) };
    assertRefused(() => json.encode('sid', given, NOW), /bytes, more than/);
    assertRefused(() => json.encodeTouch('sid', given, NOW), /bytes, more than/);
  });
});

describe('touch (rule 9)', () => {
  test('encodeTouch sets the stored cookie, escaped like the rest, and the expiry', () => {
    const cookie = { expires: IN_AN_HOUR, 'x.y': 1 };
    assert.deepStrictEqual(documentCodec.encodeTouch('sid', { cookie, views: 1 }, NOW), {
      set: { 'session.cookie': { expires: IN_AN_HOUR, 'x%2Ey': 1 } },
      expires: IN_AN_HOUR,
    });
  });

  test('encodeTouch stores an express-session Cookie in its toJSON form', () => {
    const cookie = newCookie({ maxAge: HOUR });
    const { set } = documentCodec.encodeTouch('sid', { cookie }, NOW);
    assert.deepStrictEqual(
      set['session.cookie'],
      JSON.parse(JSON.stringify(cookie), (key, value) =>
        key === 'expires' ? new Date(value) : value,
      ),
    );
  });

  test('encodeTouch without a cookie sets nothing but the expiry', () => {
    assert.deepStrictEqual(documentCodec.encodeTouch('sid', { views: 1 }, NOW), {
      set: {},
      expires: new Date(NOW + HOUR),
    });
  });

  test('encodeTouch checks only the cookie, which is all it writes', () => {
    assert.doesNotThrow(() =>
      documentCodec.encodeTouch('sid', { cookie: {}, other: new Set() }, NOW),
    );
    assertRefused(
      () => documentCodec.encodeTouch('sid', { cookie: { flags: new Set() } }, NOW),
      /a Set at depth 2/,
    );
  });
});

describe('the json serializer', () => {
  const json = codecOf({ serializer: 'json' });

  test('stores JSON.stringify of the session and reads it back with JSON.parse', () => {
    const given = { cookie: { expires: IN_AN_HOUR.toISOString() }, user: { 'a.b': [1, 'x'] } };
    const { session: stored } = json.encode('sid', given, NOW);
    assert.equal(stored, JSON.stringify(given));
    assert.deepStrictEqual(json.decode(stored, 'sid'), given);
  });

  test('Dates come back as ISO strings', () => {
    const back = json.decode(json.encode('sid', { at: new Date(NOW) }, NOW).session, 'sid');
    assert.deepStrictEqual(back, { at: new Date(NOW).toISOString() });
  });

  test('the expiry comes from the cookie, before the session is stringified', () => {
    const cookie = newCookie({ expires: IN_AN_HOUR });
    assert.equal(json.encode('sid', { cookie }, NOW).expires.getTime(), IN_AN_HOUR.getTime());
  });

  test('encodeTouch sets the whole new string', () => {
    const given = { cookie: { expires: IN_AN_HOUR }, views: 2 };
    assert.deepStrictEqual(json.encodeTouch('sid', given, NOW), {
      set: { session: JSON.stringify(given) },
      expires: IN_AN_HOUR,
    });
  });

  test('a BigInt is refused, naming its depth, with a cause that quotes nothing', () => {
    assert.throws(
      () => json.encode('sid', { [SECRET]: { [SECRET]: 5n } }, NOW),
      (error: unknown) => {
        assert.ok(error instanceof InvalidSessionError, `got ${inspect(error)}`);
        assert.match(error.message, /a BigInt at depth 2/);
        assert.ok(error.cause instanceof Error, 'a cause is attached');
        assert.equal(error.cause.name, 'TypeError');
        assert.doesNotMatch(inspect(error), new RegExp(SECRET));
        return true;
      },
    );
  });

  test('a circular reference is refused without the key names JSON.stringify puts in its message', () => {
    const given: Record<string, unknown> = { [SECRET]: {} };
    (given[SECRET] as Record<string, unknown>)[`${SECRET}-back`] = given;
    let thrown: unknown;
    try {
      JSON.stringify(given);
    } catch (error) {
      thrown = error;
    }
    assert.match(inspect(thrown), new RegExp(SECRET), 'JSON.stringify itself names the keys');
    assertRefused(() => json.encode('sid', given, NOW), /a circular reference at depth 2/);
  });

  test('a string that is not JSON is unreadable, and the error quotes none of it', () => {
    assertUnreadable(
      () => json.decode(`{"${SECRET}": tru`, 'sid'),
      /JSON parse threw a SyntaxError/,
    );
  });

  test('JSON that is not an object is unreadable', () => {
    for (const text of ['[1]', '1', 'null', '"text"']) {
      assertUnreadable(() => json.decode(text, 'sid'), /JSON parse returned .*, not an object/);
    }
  });

  test('a stored document, version 5 form, is read as well', () => {
    assert.deepStrictEqual(json.decode({ 'a%2Eb': 1 }, 'sid'), { 'a.b': 1 });
  });
});

describe('a custom serializer', () => {
  class Prefixed {
    readonly prefix = 'v1:';
    stringify(value: unknown): string {
      return this.prefix + JSON.stringify(value);
    }
    parse(text: string): unknown {
      return JSON.parse(text.slice(this.prefix.length));
    }
  }

  test('its stringify and parse are called as methods of the serializer', () => {
    const codec = codecOf({ serializer: new Prefixed() });
    const given = { cookie: { expires: IN_AN_HOUR.toISOString() }, views: 1 };
    const { session: stored } = codec.encode('sid', given, NOW);
    assert.equal(stored, `v1:${JSON.stringify(given)}`);
    assert.deepStrictEqual(codec.decode(stored, 'sid'), given);
    assert.deepStrictEqual(codec.encodeTouch('sid', given, NOW).set, { session: stored });
  });

  test('a stringify that throws is refused with a content-free cause', () => {
    const codec = codecOf({
      serializer: {
        stringify: () => {
          throw new RangeError(`cannot write ${SECRET}`);
        },
        parse: JSON.parse,
      },
    });
    assert.throws(
      () => codec.encode('sid', {}, NOW),
      (error: unknown) => {
        assert.ok(error instanceof InvalidSessionError, `got ${inspect(error)}`);
        assert.match(error.message, /the serializer's stringify threw a RangeError/);
        assert.ok(
          error.cause instanceof Error && error.cause.name === 'RangeError',
          'the cause keeps its name',
        );
        assert.match(String(error.cause.stack), /at /, 'the stack frames are kept');
        assert.doesNotMatch(inspect(error), new RegExp(SECRET));
        return true;
      },
    );
  });

  test('a stringify that returns no string is refused', () => {
    const codec = codecOf({
      serializer: { stringify: () => 5 as unknown as string, parse: JSON.parse },
    });
    assertRefused(() => codec.encode('sid', {}, NOW), /stringify returned a number, not a string/);
  });

  test('a parse that throws makes the session unreadable', () => {
    const codec = codecOf({
      serializer: {
        stringify: JSON.stringify,
        parse: () => {
          throw new Error(SECRET);
        },
      },
    });
    assertUnreadable(() => codec.decode('{}', 'sid'), /the serializer's parse threw an? Error/);
  });
});

describe('decode', () => {
  const notDocuments: Array<[string, unknown]> = [
    ['a number', 5],
    ['null', null],
    ['undefined', undefined],
    ['an array', [1]],
    ['a Date', new Date()],
    ['a Buffer', Buffer.from(SECRET)],
    ['a BSON ObjectId', new BSON.ObjectId()],
  ];
  for (const [label, stored] of notDocuments) {
    test(`a stored ${label} is unreadable`, () => {
      assertUnreadable(() => documentCodec.decode(stored, 'sid'), new RegExp(`got ${label}`));
    });
  }

  test("a stored JSON string (connect-mongo's default form) is read by the 'document' serializer", () => {
    const cookie = { expires: '2030-01-01T00:00:00.000Z', originalMaxAge: 1000 };
    assert.deepStrictEqual(documentCodec.decode(JSON.stringify({ cookie, user: 'ann' }), 'sid'), {
      cookie,
      user: 'ann',
    });
  });

  test("a stored string that is not JSON (connect-mongo's encrypted form) is unreadable for the 'document' serializer", () => {
    assertUnreadable(() => documentCodec.decode(`not json ${SECRET}`, 'sid'), /JSON parse threw/);
  });

  test('reads ask the driver for bigints and Buffers', () => {
    assert.deepStrictEqual(documentCodec.readOptions, { useBigInt64: true, promoteBuffers: true });
  });
});

describe('messages', () => {
  test('no refusal names a key, a value or the session id', () => {
    const secretId = `${SECRET}-id`;
    const attempts: object[] = [
      { [SECRET]: new Map() },
      { a: { [SECRET]: Number.NaN } },
      { [SECRET]: 2n ** 64n },
      { cookie: { expires: SECRET } },
      { cookie: SECRET },
      { [SECRET]: nested(120) },
    ];
    for (const attempt of attempts) {
      assert.throws(
        () => documentCodec.encode(secretId, attempt, NOW),
        (error: unknown) => {
          assert.ok(error instanceof InvalidSessionError, `got ${inspect(error)}`);
          assert.doesNotMatch(inspect(error), new RegExp(SECRET));
          return true;
        },
      );
    }
  });
});

describe('strings that are not well-formed UTF-16', () => {
  // BSON is UTF-8: a lone surrogate would be stored as U+FFFD, so that what is read differs.
  const lone = `${SECRET}\uD800`;

  test('a lone surrogate in a value is refused, naming its depth and quoting nothing', () => {
    assertRefused(
      () => storedOf({ a: lone }),
      /a string that is not well-formed UTF-16 .* at depth 1$/,
    );
    assertRefused(
      () => storedOf({ a: { b: [`\uDC00${SECRET}`] } }),
      /a string that is not .* at depth 3$/,
    );
  });

  test('a lone surrogate in a key is refused, naming the depth of the property it names', () => {
    assertRefused(
      () => storedOf({ [lone]: 1 }),
      /a key that is not well-formed UTF-16 .* at depth 1$/,
    );
    assertRefused(() => storedOf({ a: [{ [lone]: 1 }] }), /a key that is not .* at depth 3$/);
  });

  test('a RegExp source, and the strings of driver values, are checked too', () => {
    assertRefused(() => storedOf({ r: new RegExp(lone) }), /a RegExp with a source that is not/);
    for (const [kind, value] of [
      ['Code', new BSON.Code(lone)],
      ['Code', new BSON.Code('f()', { [lone]: 1 })],
      ['Code', new BSON.Code('f()', { a: [{ b: lone }] })],
      ['BSONSymbol', new BSON.BSONSymbol(lone)],
      ['BSONRegExp', new BSON.BSONRegExp(lone, 'i')],
      ['DBRef', new BSON.DBRef(lone, new BSON.ObjectId())],
      ['DBRef', new BSON.DBRef('c', new BSON.ObjectId(), 'db', { note: lone })],
    ] as const) {
      assertRefused(
        () => storedOf({ v: { w: value } }),
        new RegExp(`a BSON ${kind} with a string that is not well-formed UTF-16 .* at depth 2$`),
      );
    }
  });

  test('driver values of well-formed strings pass through unchanged', () => {
    const given = {
      code: new BSON.Code('f(\u{1F600})', { k: ['\u{1F600}', new BSON.ObjectId()] }),
      symbol: new BSON.BSONSymbol('\u{1F600}'),
      binary: new BSON.Binary(Buffer.from('\uD800 as bytes is fine')),
    };
    assert.equal(storedOf(given), given);
  });

  test('a cookie with a lone surrogate is refused by encode and by encodeTouch', () => {
    const session = { cookie: { expires: IN_AN_HOUR, path: `/${lone}` } };
    assertRefused(() => storedOf(session), /a string that is not .* at depth 2$/);
    assertRefused(
      () => documentCodec.encodeTouch('sid', session, NOW),
      /a string that is not .* at depth 2$/,
    );
  });

  test('astral characters, as surrogate pairs, round-trip exactly through BSON', () => {
    const given = { '\u{1F600}': '\uD83D\uDE00', list: [{ 'k\u{10FFFF}': '\u{10000}' }] };
    assert.equal(storedOf(given), given, 'nothing to copy');
    assert.deepStrictEqual(throughBson(given), given);
  });

  test("'json' keeps a lone surrogate exactly: JSON.stringify escapes it", () => {
    const json = codecOf({ serializer: 'json' });
    const given = { [lone]: [lone, '\u{1F600}'] };
    const { session: stored } = json.encode('sid', given, NOW);
    assert.equal(typeof stored, 'string');
    assert.match(stored as string, /\\ud800/);
    const bytes = BSON.serialize({ session: stored });
    assert.deepStrictEqual(json.decode(BSON.deserialize(bytes).session, 'sid'), given);
  });

  test("a custom serializer's string with a lone surrogate is refused, by encode and encodeTouch", () => {
    const codec = codecOf({ serializer: { stringify: () => lone, parse: JSON.parse } });
    const message = /the serializer's stringify returned a string that is not well-formed UTF-16/;
    assertRefused(() => codec.encode('sid', {}, NOW), message);
    assertRefused(() => codec.encodeTouch('sid', {}, NOW), message);
  });
});
