/**
 * Strings against the real test server. BSON stores strings as UTF-8, where a lone surrogate
 * (a string that is not well-formed UTF-16) becomes U+FFFD: such ids, keys and values are
 * refused with a typed error before anything is sent, so that `'a\uD800'` never reads the
 * session of `'a\uFFFD'`; well-formed text, astral characters included, round-trips exactly;
 * the `'json'` serializer keeps lone surrogates exactly, as JSON escapes them. And
 * `hashSessionId` takes secrets of 16 bytes or more.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import { inspect } from 'node:util';
import { BSON, type Document } from 'mongodb';
import { hashSessionId } from '../lib/codec/session-ids.js';
import type { SessionLike } from '../lib/codec/session-types.js';
import { InvalidSessionError, InvalidSessionIdError } from '../lib/errors/classes.js';
import type { SerializerOption } from '../lib/options/option-types.js';
import type { SessionRepositoryOptions } from '../lib/options/options.js';
import { SessionRepository } from '../lib/repository/session-repository.js';
import { isWellFormed } from '../lib/support/values.js';
import { commandsDuring, useSpecDatabase } from './support/database.js';

const database = useSpecDatabase(import.meta.url);

const HOUR = 60 * 60 * 1000;
/** Quoted by no error: it stands for the personal data keys and values may hold. */
const MARKER = 'marker-5c1e';
const LONE_HIGH = '\uD800';
const LONE_LOW = '\uDC00';
const GRINNING = '\u{1F600}';

type Session = SessionLike & Record<string, unknown>;

const cookie = () => ({ expires: new Date(Date.now() + HOUR), path: '/', httpOnly: true });

let collectionCount = 0;
/**
 * A repository on a collection of its own, through the spec's monitored client, with a session
 * stored first; `intact` checks that session and that the repository still reads and writes.
 */
async function repositoryFor(t: TestContext, options: SessionRepositoryOptions = {}) {
  collectionCount += 1;
  const collection = `strings_${collectionCount}`;
  const repository = new SessionRepository<Session>({
    client: database.client,
    databaseName: database.databaseName,
    collection,
    ...options,
  });
  t.after(() => repository.close());
  // Indexes are ensured beside the requests: settled first, so that commands counted are the spec's.
  await repository.whenIndexed();
  const sentinel = { cookie: { expires: new Date(Date.now() + HOUR).toISOString() }, views: 1 };
  await repository.set('sentinel', sentinel);
  const raw = database.db.collection<Document>(collection);
  const intact = async () => {
    assert.deepStrictEqual(await repository.get('sentinel'), sentinel);
    await repository.set('afterwards', { cookie: cookie(), views: 2 });
    assert.equal((await repository.get('afterwards'))?.views, 2);
  };
  return { repository, raw, intact };
}

/** Asserts that `attempt` fails with `type`, a TypeError quoting no marker, and sends no command. */
async function assertRefusedUnsent(
  attempt: () => Promise<unknown> | unknown,
  type: typeof InvalidSessionError | typeof InvalidSessionIdError,
  message: RegExp,
): Promise<void> {
  let failure: unknown;
  const commands = await commandsDuring(database.client, async () => {
    try {
      await attempt();
    } catch (error) {
      failure = error;
    }
  });
  assert.ok(failure instanceof type, `got ${inspect(failure)}`);
  assert.ok(failure instanceof TypeError, 'it is a TypeError');
  assert.match(failure.message, message);
  const printed = `${inspect(failure, { depth: Infinity })}${String(failure)}`;
  assert.equal(printed.includes(MARKER), false, 'the error quotes nothing given');
  assert.equal(printed.includes(LONE_HIGH) || printed.includes(LONE_LOW), false);
  assert.deepStrictEqual(
    commands.map((command) => command.commandName),
    [],
    'no command was sent',
  );
}

const NOT_WELL_FORMED_ID = /a session id to be well-formed UTF-16.*got a string of length \d+/;

const idForms: Array<[string, SessionRepositoryOptions]> = [
  ['plain ids', {}],
  ['hashSessionId ids', { transformId: hashSessionId(randomBytes(32)) }],
];

describe('session ids', () => {
  for (const [label, options] of idForms) {
    test(`with ${label}, 'a\\uD800' is refused by every operation and never reads the session of 'a\\uFFFD'`, async (t) => {
      const { repository, raw, intact } = await repositoryFor(t, options);
      const session = { cookie: cookie(), owner: 'replacement character' };
      await repository.set('a\uFFFD', session);
      const documentsBefore = await raw.find({}).toArray();
      for (const lone of [`a${LONE_HIGH}`, `a${LONE_LOW}`, `${LONE_LOW}${LONE_HIGH}`]) {
        for (const attempt of [
          () => repository.get(lone),
          () => repository.set(lone, { cookie: cookie(), owner: 'lone surrogate' }),
          () => repository.touch(lone, { cookie: cookie() }),
          () => repository.destroy(lone),
          () => repository.destroy(['sentinel', lone]),
          () => repository.handleOf(lone),
        ]) {
          await assertRefusedUnsent(attempt, InvalidSessionIdError, NOT_WELL_FORMED_ID);
        }
      }
      assert.deepStrictEqual(await raw.find({}).toArray(), documentsBefore, 'nothing changed');
      assert.deepStrictEqual(await repository.get('a\uFFFD'), session);
      await intact();
    });

    test(`with ${label}, an id with an astral character round-trips and is its own session`, async (t) => {
      const { repository, intact } = await repositoryFor(t, options);
      const ids = [GRINNING, `a${GRINNING}`, 'a\uFFFD', 'a\uFFFD\uFFFD'];
      for (const [index, sid] of ids.entries()) {
        await repository.set(sid, { cookie: cookie(), index });
      }
      for (const [index, sid] of ids.entries()) {
        assert.equal((await repository.get(sid))?.index, index);
      }
      if (options.transformId === undefined) {
        const stored = await repository.ids();
        for (const sid of ids) assert.ok(stored.includes(sid), 'the id is stored exactly');
      }
      await repository.destroy(GRINNING);
      assert.equal(await repository.get(GRINNING), null);
      assert.equal((await repository.get(`a${GRINNING}`))?.index, 1);
      await intact();
    });
  }

  test('the refusal names the id by kind and length, never quoting it', async (t) => {
    const { repository } = await repositoryFor(t);
    await assertRefusedUnsent(
      () => repository.get(`${MARKER}${LONE_HIGH}`),
      InvalidSessionIdError,
      /got a string of length 12 with a lone surrogate/,
    );
  });

  test('a transformId result that is not well-formed is refused before anything is sent', async (t) => {
    // Cutting an id by UTF-16 code units can split a surrogate pair.
    const { repository, intact } = await repositoryFor(t, {
      transformId: (sid) => sid.slice(0, 3),
    });
    for (const attempt of [
      () => repository.get(`ab${GRINNING}`),
      () => repository.set(`ab${GRINNING}`, { cookie: cookie() }),
      () => repository.destroy(`ab${GRINNING}`),
    ]) {
      await assertRefusedUnsent(
        attempt,
        InvalidSessionIdError,
        /`transformId\(sid\)` to return well-formed UTF-16.*got a string of length 3 with a lone surrogate/,
      );
    }
    await intact();
  });

  test('no two ids of three characters share a stored id or a hash: those that could are refused', () => {
    // Every string of up to three code units over an alphabet of the awkward ones: lone halves,
    // a pair's halves in both orders, U+FFFD, and an ASCII letter.
    const alphabet = ['a', '\uD83D', '\uDE00', '\uFFFD', LONE_HIGH, LONE_LOW];
    let ids = [''];
    const all: string[] = [];
    for (let length = 1; length <= 3; length += 1) {
      ids = ids.flatMap((prefix) => alphabet.map((unit) => prefix + unit));
      all.push(...ids);
    }
    const hash = hashSessionId(randomBytes(32));
    const byHash = new Map<string, string>();
    const byStored = new Map<string, string>();
    let refused = 0;
    for (const sid of all) {
      let hashed: string;
      try {
        hashed = hash(sid);
      } catch (error) {
        assert.ok(error instanceof InvalidSessionIdError, `got ${inspect(error)}`);
        assert.equal(isWellFormed(sid), false);
        refused += 1;
        continue;
      }
      assert.equal(byHash.get(hashed), undefined, 'two ids, one hash');
      byHash.set(hashed, sid);
      // As the driver writes and reads the plain id.
      const stored = BSON.deserialize(BSON.serialize({ _id: sid }))._id as string;
      assert.equal(stored, sid, 'the plain id is stored exactly');
      assert.equal(byStored.get(stored), undefined);
      byStored.set(stored, sid);
    }
    assert.ok(refused > 0 && byHash.size > 0);
    assert.equal(refused + byHash.size, all.length);
  });
});

describe('session data', () => {
  const lone = `x${LONE_HIGH}y`;
  const refusedSessions: Array<[string, () => Session, RegExp]> = [
    ['a value', () => ({ cookie: cookie(), note: lone }), /a string that is not.*at depth 1/],
    [
      'a value in a nested object',
      () => ({ cookie: cookie(), user: { profile: { name: lone } } }),
      /a string that is not.*at depth 3/,
    ],
    [
      'a value in an array',
      () => ({ cookie: cookie(), tags: ['fine', lone] }),
      /a string that is not.*at depth 2/,
    ],
    [
      'a key',
      () => ({ cookie: cookie(), [`${MARKER}${LONE_LOW}`]: 1 }),
      /a key that is not.*at depth 1/,
    ],
    [
      'a key in an object in an array',
      () => ({ cookie: cookie(), list: [{ [`${MARKER}${LONE_HIGH}`]: true }] }),
      /a key that is not.*at depth 3/,
    ],
    [
      'two keys that UTF-8 would make one',
      () => ({ cookie: cookie(), votes: { [`a${LONE_HIGH}`]: 1, [`a${LONE_LOW}`]: 2 } }),
      /a key that is not.*at depth 2/,
    ],
    [
      'a RegExp source',
      () => ({ cookie: cookie(), pattern: new RegExp(lone) }),
      /a RegExp with a source that is not.*at depth 1/,
    ],
  ];
  for (const [label, session, message] of refusedSessions) {
    test(`a lone surrogate in ${label} is an InvalidSessionError, and nothing is sent`, async (t) => {
      const { repository, intact } = await repositoryFor(t);
      await assertRefusedUnsent(
        () => repository.set('refused', session()),
        InvalidSessionError,
        new RegExp(`^The session cannot be stored: ${message.source}`),
      );
      assert.equal(await repository.get('refused'), null);
      await intact();
    });
  }

  test('a lone surrogate in the cookie is refused by set and by touch, and nothing is sent', async (t) => {
    const { repository, intact } = await repositoryFor(t);
    const session = { cookie: { ...cookie(), path: `/${MARKER}${LONE_HIGH}` } };
    const message = /a string that is not well-formed UTF-16.*at depth 2/;
    await assertRefusedUnsent(() => repository.set('s', session), InvalidSessionError, message);
    await assertRefusedUnsent(
      () => repository.touch('sentinel', session),
      InvalidSessionError,
      message,
    );
    await intact();
  });

  test('with encryption, a lone surrogate is refused before anything is sealed or sent', async (t) => {
    const { repository, intact } = await repositoryFor(t, {
      encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] },
    });
    await assertRefusedUnsent(
      () => repository.set('s', { cookie: cookie(), note: lone }),
      InvalidSessionError,
      /a string that is not.*at depth 1/,
    );
    await intact();
  });

  const jsonForms: Array<[string, SerializerOption, SessionRepositoryOptions]> = [
    ["the 'json' serializer", 'json', {}],
    ['a custom serializer by JSON', { stringify: JSON.stringify, parse: JSON.parse }, {}],
    [
      "the 'json' serializer with encryption",
      'json',
      { encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] } },
    ],
  ];
  for (const [label, serializer, options] of jsonForms) {
    test(`${label} keeps lone surrogates exactly, in keys and values, as JSON escapes them`, async (t) => {
      const { repository, raw, intact } = await repositoryFor(t, { serializer, ...options });
      const session = {
        cookie: { ...cookie(), expires: cookie().expires.toISOString() },
        note: lone,
        [`k${LONE_LOW}`]: [LONE_HIGH, { [LONE_HIGH]: LONE_LOW }],
      };
      await repository.set('s', session);
      assert.deepStrictEqual(await repository.get('s'), session);
      if (options.encryption === undefined) {
        const stored = (await raw.findOne({ _id: 's' as never }))?.session;
        assert.equal(typeof stored, 'string');
        assert.ok((stored as string).includes('\\ud800'), 'stored escaped');
      }
      await intact();
    });
  }

  test("a custom serializer's string that is not well-formed is refused, and nothing is sent", async (t) => {
    // JSON with its escapes of lone surrogates undone, as a hand-written format might write them.
    const serializer = {
      stringify: (session: unknown) =>
        JSON.stringify(session).replace(/\\u(d[89a-f][0-9a-f]{2})/g, (_, hex: string) =>
          String.fromCharCode(Number.parseInt(hex, 16)),
        ),
      parse: (text: string): unknown => JSON.parse(text),
    };
    const { repository, intact } = await repositoryFor(t, { serializer });
    await assertRefusedUnsent(
      () => repository.set('s', { cookie: cookie(), note: `${MARKER}${lone}` }),
      InvalidSessionError,
      /^The session cannot be stored: the serializer's stringify returned a string that is not well-formed UTF-16/,
    );
    await assertRefusedUnsent(
      () => repository.touch('sentinel', { cookie: cookie(), note: lone }),
      InvalidSessionError,
      /stringify returned a string that is not well-formed/,
    );
    const fine = { cookie: { expires: cookie().expires.toISOString() }, note: `fine ${GRINNING}` };
    await repository.set('s', fine);
    assert.deepStrictEqual(await repository.get('s'), fine);
    await intact();
  });

  for (const serializer of ['document', 'json'] as const) {
    test(`an astral character round-trips exactly in an id, a key and a value (${serializer})`, async (t) => {
      const { repository, raw, intact } = await repositoryFor(t, { serializer });
      const sid = `id ${GRINNING}`;
      const session = {
        cookie: { ...cookie(), expires: cookie().expires.toISOString() },
        [GRINNING]: `${GRINNING} and \uD83D\uDE00`,
        list: [{ [`k${GRINNING}`]: GRINNING }],
      };
      await repository.set(sid, session);
      assert.deepStrictEqual(await repository.get(sid), session);
      const stored = await raw.findOne({ _id: sid as never });
      assert.ok(stored !== null, 'stored under the id itself');
      if (serializer === 'document') {
        assert.equal((stored.session as Record<string, unknown>)[GRINNING], session[GRINNING]);
      }
      await intact();
    });
  }
});

describe('the hashSessionId secret', () => {
  const refusedSecrets: Array<[string, unknown, RegExp]> = [
    ['a string of 15 bytes', 'k'.repeat(15), /got a string of 15 bytes/],
    ['a Buffer of 15 bytes', randomBytes(15), /got a Buffer of 15 bytes/],
    ['a Uint8Array of 15 bytes', new Uint8Array(15), /got a Uint8Array of 15 bytes/],
    ['a 1-byte Buffer', Buffer.from([7]), /got a Buffer of 1 byte\b/],
    // Seven two-byte characters and one ASCII: 8 characters, 15 bytes in UTF-8.
    ['a string of 15 UTF-8 bytes', `${'é'.repeat(7)}k`, /got a string of 15 bytes/],
    ['a string with a lone surrogate', `${'k'.repeat(20)}${LONE_HIGH}`, /with a lone surrogate/],
  ];
  for (const [label, secret, got] of refusedSecrets) {
    test(`${label} is refused with a TypeError that does not quote it`, () => {
      assert.throws(
        () => hashSessionId(secret as string),
        (error: unknown) => {
          assert.ok(error instanceof TypeError, `got ${inspect(error)}`);
          assert.match(error.message, /secret of `hashSessionId\(secret\)`.*at least 16 bytes/);
          assert.match(error.message, got);
          if (typeof secret === 'string') assert.equal(error.message.includes(secret), false);
          return true;
        },
      );
    });
  }

  for (const [label, secret] of [
    ['a string of 16 bytes', 'k'.repeat(16)],
    ['a string of 8 two-byte characters', 'é'.repeat(8)],
    ['a Buffer of 16 bytes', randomBytes(16)],
    ['a Uint8Array of 16 bytes', new Uint8Array(randomBytes(16))],
    ['a Buffer of 32 bytes', randomBytes(32)],
  ] as const) {
    test(`${label} is accepted, and its hashes store and find sessions`, async (t) => {
      const { repository, intact } = await repositoryFor(t, { transformId: hashSessionId(secret) });
      await repository.set('s', { cookie: cookie(), views: 3 });
      assert.equal((await repository.get('s'))?.views, 3);
      const hash = hashSessionId(secret);
      assert.deepStrictEqual((await repository.ids()).sort(), [hash('s'), hash('sentinel')].sort());
      await intact();
    });
  }
});
