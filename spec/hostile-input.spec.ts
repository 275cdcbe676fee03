/**
 * Hostile session ids and session data, through `SessionRepository` against the real test
 * server. Every input either round-trips exactly, comes back as docs/serialization.md says, or
 * is refused with a typed error before any command is sent; and afterwards a session stored
 * earlier is unchanged and the repository still works.
 */
import assert from 'node:assert/strict';
import { after, describe, type TestContext, test } from 'node:test';
import { inspect } from 'node:util';
import expressSession from 'express-session';
import { BSON, type Document, MongoClient } from 'mongodb';
import { MAX_DOCUMENT_BYTES } from '../lib/codec/session-codec.js';
import type { SessionLike } from '../lib/codec/session-types.js';
import {
  InvalidSessionError,
  InvalidSessionIdError,
  OperationError,
  SessionStoreError,
} from '../lib/errors/classes.js';
import type { SerializerOption } from '../lib/options/option-types.js';
import { SessionRepository } from '../lib/repository/session-repository.js';
import { specBackend, useSpecDatabase } from './support/database.js';

const HOUR = 60 * 60 * 1000;
const SECRET = 'secret-91c4';
const inAnHour = () => new Date(Date.now() + HOUR);

const database = useSpecDatabase(import.meta.url);
// A client of this file's own, so that every command the repository sends is seen; opened by
// the first test, as the database itself is.
let monitored: MongoClient | undefined;
let commandsSent = 0;
async function monitoredClient(): Promise<MongoClient> {
  if (monitored === undefined) {
    monitored = new MongoClient(database.uri, { monitorCommands: true });
    monitored.on('commandStarted', () => {
      commandsSent += 1;
    });
    await monitored.connect();
  }
  return monitored;
}
after(async () => {
  await monitored?.close();
});

/** How many hostile inputs were tried, by outcome; printed by the last test. */
const outcomes = new Map<string, number>();
function tally(outcome: string): void {
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
}

type Session = SessionLike & Record<string, unknown>;

let collectionCount = 0;
/**
 * A repository on a collection of its own, with a session stored before anything hostile
 * happens; `intact` checks that session and that the repository still reads and writes.
 */
async function guarded(serializer?: SerializerOption) {
  collectionCount += 1;
  const collection = `hostile_${collectionCount}`;
  const repository = new SessionRepository<Session>({
    client: await monitoredClient(),
    databaseName: database.databaseName,
    collection,
    ...(serializer === undefined ? {} : { serializer }),
  });
  // Indexes are ensured beside the requests: settled first, so that commands counted are the spec's.
  await repository.whenIndexed();
  // A date string, which every serializer gives back as it is.
  const sentinel = {
    cookie: { expires: inAnHour().toISOString() },
    user: { name: 'Ann' },
    views: 1,
  };
  await repository.set('sentinel', sentinel);
  const raw = database.db.collection<Document>(collection);
  const before = await raw.findOne({ _id: 'sentinel' as never });
  const intact = async () => {
    assert.deepStrictEqual(await raw.findOne({ _id: 'sentinel' as never }), before);
    assert.deepStrictEqual(await repository.get('sentinel'), sentinel);
    await repository.set('afterwards', { cookie: { expires: inAnHour() }, views: 2 });
    assert.equal((await repository.get('afterwards'))?.views, 2);
  };
  return { repository, raw, intact };
}

/** Asserts that `attempt` rejects with `type`, quoting nothing secret, and sends no command. */
async function assertRefusedUnsent(
  attempt: () => Promise<unknown>,
  type: typeof InvalidSessionError | typeof InvalidSessionIdError,
): Promise<void> {
  const sentBefore = commandsSent;
  await assert.rejects(attempt(), (error: unknown) => {
    assert.ok(error instanceof type, `got ${inspect(error)}`);
    assert.ok(error instanceof TypeError, 'it is a TypeError');
    assert.doesNotMatch(inspect(error), new RegExp(SECRET));
    return true;
  });
  assert.equal(commandsSent - sentBefore, 0, 'no command was sent');
}

/** A hostile session that must be refused by set (and, with its cookie, by touch). */
async function refusedSession(session: object, alsoByTouch = false): Promise<void> {
  const { repository, intact } = await guarded();
  await assertRefusedUnsent(
    () => repository.set('hostile', session as Session),
    InvalidSessionError,
  );
  if (alsoByTouch) {
    await assertRefusedUnsent(
      () => repository.touch('sentinel', session as Session),
      InvalidSessionError,
    );
  }
  assert.equal(await repository.get('hostile'), null);
  await intact();
  tally('refused with InvalidSessionError, nothing sent');
}

/** A hostile session that must come back from get exactly as given (or as `expected`). */
async function roundTrip(
  session: object,
  expected: object = session,
  serializer?: SerializerOption,
): Promise<void> {
  const { repository, intact } = await guarded(serializer);
  await repository.set('hostile', session as Session);
  assert.deepStrictEqual(await repository.get('hostile'), expected);
  await intact();
  tally(expected === session ? 'round trip, exact' : 'round trip, as documented');
}

const cookie = () => ({ expires: inAnHour(), path: '/', httpOnly: true });

/** `levels` nested objects, the outermost included. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { n: 1 };
  for (let level = 1; level < levels; level += 1) value = { n: value };
  return value;
}

describe('session ids', () => {
  const wrongTypes: Array<[string, unknown]> = [
    ['a number', 42],
    ['a query object', { $ne: null }],
    // destroy takes an array of ids; this one holds a query object.
    ['an array', [{ $ne: null }]],
    ['null', null],
    ['undefined', undefined],
    ['an empty string', ''],
  ];
  for (const [label, id] of wrongTypes) {
    test(`${label} as a session id is refused by get, set, touch and destroy, and nothing is sent`, async () => {
      const { repository, intact } = await guarded();
      const sid = id as string;
      const session = { cookie: cookie() };
      for (const attempt of [
        () => repository.get(sid),
        () => repository.set(sid, session),
        () => repository.touch(sid, session),
        () => repository.destroy(sid),
      ]) {
        await assertRefusedUnsent(attempt, InvalidSessionIdError);
        tally('refused with InvalidSessionIdError, nothing sent');
      }
      await intact();
    });
  }

  const injectionShaped = ['{"$ne":null}', '$where', 'a.b', '$gt', '__proto__', 'a\0b', ' '];
  for (const id of injectionShaped) {
    test(`the string id ${JSON.stringify(id)} is an ordinary id: stored, read and destroyed alone`, async () => {
      const { repository, intact } = await guarded();
      const session = { cookie: cookie(), owner: id };
      if (id.includes('\0') && specBackend() === 'postgresql') {
        // FerretDB's PostgreSQL backend keeps documents as jsonb, which cannot hold U+0000: the
        // server refuses the write. The refusal is typed, and nothing else is lost.
        await assert.rejects(repository.set(id, session), OperationError);
        await intact();
        tally('refused by the server (FerretDB on PostgreSQL)');
        return;
      }
      await repository.set(id, session);
      assert.deepStrictEqual(await repository.get(id), session);
      assert.equal(await repository.length(), 2);
      await repository.destroy(id);
      assert.equal(await repository.get(id), null);
      await intact();
      tally('round trip, exact');
    });
  }

  test('a 1 MB session id is stored exactly or refused with a typed error', async (t) => {
    const { repository, intact } = await guarded();
    const id = 'i'.repeat(1024 * 1024);
    const session = { cookie: cookie(), views: 1 };
    try {
      await repository.set(id, session);
      assert.deepStrictEqual(await repository.get(id), session);
      t.diagnostic('a 1 MB session id was stored and read back');
      tally('round trip, exact');
    } catch (error) {
      assert.ok(
        error instanceof SessionStoreError || error instanceof TypeError,
        `got ${inspect(error)}`,
      );
      assert.ok(!error.message.includes('iiiiiiii'), 'the message does not quote the id');
      t.diagnostic(`a 1 MB session id was refused: ${error.name}`);
      tally(`refused with ${error.name}`);
    }
    await intact();
  });
});

describe('keys', () => {
  const prototypeKeys = JSON.parse(
    '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"prototype":3,' +
      '"deep":{"list":[{"__proto__":{"polluted":4}}]}}',
  ) as Record<string, unknown>;

  test('__proto__, constructor and prototype keys from JSON.parse round-trip as own properties', async () => {
    const session: Session = { cookie: cookie(), ...jsonCopy(prototypeKeys) };
    const { repository, intact } = await guarded();
    await repository.set('hostile', session);
    const back = (await repository.get('hostile')) as Record<string, unknown>;
    assert.deepStrictEqual(back, session);
    assert.ok(Object.hasOwn(back, '__proto__'), '__proto__ is an own property');
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    const listed = (back.deep as { list: Array<Record<string, unknown>> }).list[0];
    assert.ok(
      listed !== undefined && Object.hasOwn(listed, '__proto__'),
      '__proto__ in an array element is an own property',
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    await intact();
    tally('round trip, exact');
  });

  test('__proto__ keys beside keys that need escaping round-trip as own properties', async () => {
    const data = JSON.parse(
      '{"a.b":{"__proto__":{"polluted":1},"$x":1},"__proto__":{"c.d":{"__proto__":2}}}',
    ) as Record<string, unknown>;
    const session: Session = { cookie: cookie(), ...data };
    const { repository, intact } = await guarded();
    await repository.set('hostile', session);
    const back = (await repository.get('hostile')) as Record<string, Record<string, unknown>>;
    assert.deepStrictEqual(back, session);
    assert.ok(Object.hasOwn(back, '__proto__'), '__proto__ is an own property');
    assert.equal(Object.getPrototypeOf(back['a.b']), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    await intact();
    tally('round trip, exact');
  });

  test('the BSON deserializer keeps a stored __proto__ key an own property', async () => {
    const { raw, repository, intact } = await guarded();
    // Written around the codec, as another program might.
    const session = JSON.parse('{"__proto__":{"polluted":true},"views":1}') as object;
    await raw.insertOne({ _id: 'raw' as never, session, expires: inAnHour() });
    const back = (await repository.get('raw')) as Record<string, unknown>;
    assert.ok(Object.hasOwn(back, '__proto__'), '__proto__ is an own property');
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    await intact();
    tally('round trip, exact');
  });

  const awkward: Array<[string, object]> = [
    ['dotted keys', { 'example.com': { 'a.b': { 'c.d': 1 } } }],
    ['keys with a leading $', { $where: { $ne: { $gt: 1 } } }],
    ['dotted and $ keys inside arrays', { list: [{ 'x.y': 1 }, { list: [{ $set: 2 }] }] }],
    ['keys with NUL', { 'a\0b': { '\0': 1 } }],
    ['keys with % and escape sequences', { '%2E': { '%24x': '%', '100%': 1, '%': { '%25': 2 } } }],
    ['a _bsontype key', { v: { _bsontype: 'ObjectId', id: SECRET } }],
    ['an empty key', { '': { '': 1 } }],
  ];
  for (const [label, data] of awkward) {
    test(`${label} round-trip with default settings`, async () => {
      await roundTrip({ cookie: cookie(), ...data });
    });
  }

  test('awkward keys in the cookie survive a touch', async () => {
    const { repository, intact } = await guarded();
    const session = { cookie: { ...cookie(), 'example.com': 1, $x: 2 }, views: 1 };
    await repository.set('hostile', session);
    // An hour later: beyond the lazy-touch window, so the touch writes.
    const later = new Date(Date.now() + 2 * HOUR);
    const touched = { ...session, cookie: { ...session.cookie, expires: later } };
    await repository.touch('hostile', touched);
    assert.deepStrictEqual(await repository.get('hostile'), touched);
    await intact();
    tally('round trip, exact');
  });
});

describe('values', () => {
  test('Dates, Buffers and BigInts within 64 bits round-trip', async () => {
    await roundTrip({
      cookie: cookie(),
      at: new Date(0),
      bytes: Buffer.from([0, 1, 255]),
      big: [2n ** 63n - 1n, -(2n ** 63n), 0n],
    });
  });

  test('an array directly inside an array round-trips, or is refused by the server (FerretDB 1.x)', async (t) => {
    const { repository, intact } = await guarded();
    const session = { cookie: cookie(), grid: [[1, 2], [{ 'a.b': 3 }]] };
    try {
      await repository.set('hostile', session);
      assert.deepStrictEqual(await repository.get('hostile'), session);
      tally('round trip, exact');
    } catch (error) {
      assert.ok(error instanceof OperationError, `got ${inspect(error)}`);
      assert.doesNotMatch(error.message, /a\.b|a%2Eb/);
      t.diagnostic(`the server refused nested arrays: ${error.message}`);
      tally('refused by the server with OperationError');
    }
    await intact();
  });

  test('an express-session Cookie is stored in its JSON form and comes back as that form', async () => {
    const given = new expressSession.Cookie();
    given.maxAge = HOUR;
    const json = (given as unknown as { toJSON(): Record<string, unknown> }).toJSON();
    const stored = Object.fromEntries(
      Object.entries(json).filter(([, value]) => value !== undefined),
    );
    await roundTrip({ cookie: given, views: 1 }, { cookie: stored, views: 1 });
  });

  test('a Uint8Array comes back as a Buffer', async () => {
    const session = { cookie: cookie(), bytes: new Uint8Array([1, 2]) };
    await roundTrip(session, { ...session, bytes: Buffer.from([1, 2]) });
  });

  test('undefined and function values are dropped, and become null in arrays', async () => {
    const session = {
      cookie: cookie(),
      u: undefined,
      f: () => SECRET,
      list: [undefined, () => 1, 2],
    };
    await roundTrip(session, { cookie: session.cookie, list: [null, null, 2] });
  });

  test('-0 comes back as -0 or 0, as the server keeps it', async () => {
    const { repository, intact } = await guarded();
    await repository.set('hostile', { cookie: cookie(), n: -0 });
    const n = (await repository.get('hostile'))?.n;
    assert.ok(n === 0, `got ${String(n)}`);
    await intact();
    tally('round trip, as documented');
  });

  test('driver values round-trip; a Long reads back as a bigint', async () => {
    const id = new BSON.ObjectId();
    const session = { cookie: cookie(), id, long: BSON.Long.fromNumber(7) };
    await roundTrip(session, { ...session, long: 7n });
  });

  const refused: Array<[string, object]> = [
    ['a BigInt beyond 64 bits', { big: 2n ** 70n }],
    ['NaN', { n: Number.NaN }],
    ['Infinity', { n: [Number.POSITIVE_INFINITY] }],
    ['-Infinity', { n: { m: Number.NEGATIVE_INFINITY } }],
    ['an invalid Date', { at: new Date(Number.NaN) }],
    ['a Map', { m: new Map([[SECRET, 1]]) }],
    ['a Set', { s: new Set([SECRET]) }],
    ['a symbol value', { s: Symbol(SECRET) }],
    ['a Float64Array', { f: new Float64Array([1]) }],
    ['a Promise', { p: Promise.resolve(SECRET) }],
  ];
  for (const [label, data] of refused) {
    test(`${label} is refused before anything is sent`, async () => {
      await refusedSession({ cookie: cookie(), [SECRET]: data });
    });
  }

  test('a circular reference is refused before anything is sent', async () => {
    const data: Record<string, unknown> = { cookie: cookie() };
    data[SECRET] = { back: data };
    await refusedSession(data);
  });

  test('a circular cookie is refused by set and touch before anything is sent', async () => {
    const circular: Record<string, unknown> = { expires: inAnHour() };
    circular.self = circular;
    await refusedSession({ cookie: circular }, true);
  });
});

describe('shape and size', () => {
  test('a session nested to the 100-level limit round-trips', async () => {
    await roundTrip({ cookie: cookie(), deep: nested(98) });
  });

  test('a session nested past the limit is refused before anything is sent', async () => {
    await refusedSession({ cookie: cookie(), deep: nested(99) });
  });

  test('a session far past the limit is refused without exhausting the stack', async () => {
    await refusedSession({ cookie: cookie(), deep: nested(100_000) });
  });

  test('a session over 16 MiB is refused before anything is sent', async () => {
    await refusedSession({ cookie: cookie(), blob: `${SECRET}${'x'.repeat(MAX_DOCUMENT_BYTES)}` });
  });

  test('a session of exactly 16 MiB is stored', async () => {
    const expires = inAnHour();
    const documentOf = (text: string) => ({
      _id: 'hostile',
      session: { cookie: { expires }, text },
      expires,
      // The audit times every write stores beside the session.
      createdAt: expires,
      lastModified: expires,
    });
    const text = 'x'.repeat(MAX_DOCUMENT_BYTES - BSON.calculateObjectSize(documentOf('')));
    assert.equal(BSON.calculateObjectSize(documentOf(text)), MAX_DOCUMENT_BYTES);
    await roundTrip({ cookie: { expires }, text });
  });

  const badCookies: Array<[string, unknown]> = [
    ['a string cookie', 'abc'],
    ['an array cookie', [inAnHour()]],
    ['a numeric cookie', 5],
  ];
  for (const [label, value] of badCookies) {
    test(`${label} is refused by set and touch before anything is sent`, async () => {
      await refusedSession({ cookie: value }, true);
    });
  }

  const badExpires: Array<[string, unknown]> = [
    ['true', true],
    ['0', 0],
    ['a timestamp', Date.now() + HOUR],
    ['an unparsable string', SECRET],
    ['an invalid Date', new Date(Number.NaN)],
    ['an object', { $gt: new Date() }],
  ];
  for (const [label, expires] of badExpires) {
    test(`${label} as cookie.expires is refused by set and touch before anything is sent`, async () => {
      await refusedSession({ cookie: { expires } }, true);
    });
  }

  test('a session without a cookie is stored for the expires option', async () => {
    await roundTrip({ views: 1 });
  });

  test('a date string as cookie.expires is stored as given', async () => {
    await roundTrip({ cookie: { expires: inAnHour().toISOString() }, views: 1 });
  });

  const notSessions: Array<[string, unknown]> = [
    ['null', null],
    ['a string', SECRET],
    ['an array', [SECRET]],
  ];
  for (const [label, value] of notSessions) {
    test(`${label} as the session is refused before anything is sent`, async () => {
      await refusedSession(value as object);
    });
  }
});

describe('stored values the codec did not write', () => {
  const garbage: Array<[string, unknown]> = [
    ['a number', 5],
    ['null', null],
    ['an array', [1, 2]],
    ['a string', SECRET],
    ['a Date', new Date()],
  ];
  for (const [label, stored] of garbage) {
    test(`a stored session that is ${label} reads as no session`, async () => {
      const { raw, repository, intact } = await guarded();
      await raw.insertOne({ _id: 'raw' as never, session: stored, expires: inAnHour() });
      assert.equal(await repository.get('raw'), null);
      assert.deepStrictEqual(
        (await repository.all()).map((found) => found.id),
        ['sentinel'],
      );
      await intact();
      tally('read as no session');
    });
  }
});

describe('string serializers', () => {
  const awkward = JSON.parse(
    '{"__proto__":{"polluted":1},"example.com":{"$gt":[{"a.b":null}]},"n":1.5}',
  ) as Record<string, unknown>;

  test("the 'json' serializer round-trips awkward keys through the database", async () => {
    const session = { cookie: { expires: inAnHour().toISOString() }, ...jsonCopy(awkward) };
    await roundTrip(session, session, 'json');
  });

  test("the 'json' serializer gives Dates back as ISO strings", async () => {
    const at = new Date(0);
    const session = { cookie: { expires: inAnHour() }, at };
    await roundTrip(session, JSON.parse(JSON.stringify(session)) as object, 'json');
  });

  test('a custom serializer round-trips through the database', async () => {
    const serializer = {
      stringify: (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64'),
      parse: (text: string) => JSON.parse(Buffer.from(text, 'base64').toString()) as unknown,
    };
    const session = { cookie: { expires: inAnHour().toISOString() }, ...jsonCopy(awkward) };
    await roundTrip(session, session, serializer);
  });

  const refusedByJson: Array<[string, () => object]> = [
    ['a BigInt', () => ({ big: 1n })],
    [
      'a circular reference',
      () => {
        const data: Record<string, unknown> = {};
        data[SECRET] = { data };
        return data;
      },
    ],
  ];
  for (const [label, make] of refusedByJson) {
    test(`the 'json' serializer refuses ${label} before anything is sent`, async (t: TestContext) => {
      const { repository, intact } = await guarded('json');
      await assertRefusedUnsent(
        () => repository.set('hostile', { cookie: cookie(), ...make() }),
        InvalidSessionError,
      );
      await intact();
      tally('refused with InvalidSessionError, nothing sent');
      t.diagnostic(`refused ${label}`);
    });
  }
});

test('summary of hostile inputs', (t) => {
  const tried = [...outcomes.values()].reduce((sum, count) => sum + count, 0);
  const parts = [...outcomes].map(([outcome, count]) => `${count} ${outcome}`);
  t.diagnostic(`${tried} hostile inputs: ${parts.join('; ')}`);
  assert.ok(tried > 0, 'hostile inputs were tried');
});

/** A deep copy through JSON, which keeps own `__proto__` keys own properties. */
function jsonCopy(value: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}
