/**
 * Nothing secret in errors or logs. Every error path the other suites make happen is driven here
 * with distinctive markers as session ids, session keys, session values and a password, against
 * the real test server (through the wire-fault proxy, which makes it answer what MongoDB and
 * FerretDB answer on failure, their messages quoting ids and keys). Everything the store lets
 * out is collected: every rejection, every `error` event of `MongoDBStore`, every process
 * warning, and everything written to stderr (where Express's default error handler logs, and
 * where any `NODE_DEBUG` output would go; the store itself has no debug logging). Each is
 * printed as `util.inspect` (depth Infinity: what `console.error` prints, the `cause` chain
 * included), `String` and `JSON.stringify` print it, and no marker may appear in any. The last
 * test fails if a path collected nothing, so a path that stops being exercised is noticed.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, type TestContext, test } from 'node:test';
import { inspect } from 'node:util';
import express from 'express';
import session from 'express-session';
import { BSON, type Document } from 'mongodb';
import {
  hashSessionId,
  MongoDBStore,
  type MongoDBStoreOptions,
  SessionDecryptionError,
  SessionStoreError,
} from '../lib/index.js';
import { testUri, useSpecDatabase } from './support/database.js';
import { until } from './support/faults.js';
import { HttpClient, listen } from './support/http.js';
import { closedPort, startTcpProxy } from './support/tcp-proxy.js';
import { startWireFaultProxy, type WireFaultProxy } from './support/wire-faults.js';

const database = useSpecDatabase(import.meta.url);

/** FerretDB's own words for the key it refused, as the issue quotes them. */
const SID = 'SECRET.TOKEN.456';
const OTHER_SID = 'SECRET.TOKEN.789';
const KEY = 'KEY-MARKER-b71e';
const VALUE = 'VALUE-MARKER-4f0a';
const PASSWORD = 'PW-MARKER-d93c';
const MARKERS = [SID, OTHER_SID, KEY, VALUE, PASSWORD, 'SECRET.TOKEN'];
const HOUR = 60 * 60 * 1000;
const APP_SECRET = 'no-leak app secret';

/** Every path this spec drives; the last test checks that each collected something. */
const PATHS = [
  'duplicate key (E11000 quoting the id)',
  'duplicate key as a write error',
  'FerretDB invalid key',
  'read refused, quoting the id',
  'destroy refused, quoting the id',
  'index failure 85 (TTL, then collMod refused)',
  'index failure 86',
  'index failure 13',
  'index failure 11000 (unique, quoting the id)',
  'sweep failure',
  'network drop',
  'absent server (password in the URI)',
  'absent server, no listener: process warning',
  'hostile input',
  'unreadable document',
  'unreadable document, no listener: process warning',
  'tampered encrypted document',
  'wrong key',
  'removed key',
  'encrypted document moved to another id',
  'encrypted document read without encryption',
  'transformId returning bad values',
  'closed store',
  'operation timeout',
  'Express default error handler (stderr)',
] as const;
type Path = (typeof PATHS)[number];

const collected = new Map<Path | 'process warning' | 'stderr', unknown[]>();

/** Every printed form of `item`; for errors, the message and stack as well. */
function printedForms(item: unknown): string[] {
  const forms = [inspect(item, { depth: Infinity }), String(item)];
  try {
    forms.push(JSON.stringify(item) ?? '');
  } catch {
    // Not JSON-able: nothing JSON.stringify could print.
  }
  if (item instanceof Error) forms.push(item.message, item.stack ?? '');
  return forms;
}

/** The markers `item` prints. */
function leaked(item: unknown): string[] {
  const forms = printedForms(item);
  return MARKERS.filter((marker) => forms.some((form) => form.includes(marker)));
}

/** Records `item` under `path`, and fails at once if it prints a marker. */
function collect(path: Path | 'process warning' | 'stderr', item: unknown): void {
  collected.set(path, [...(collected.get(path) ?? []), item]);
  const found = leaked(item);
  assert.deepEqual(found, [], `${path}: ${inspect(item, { depth: Infinity })}`);
}

/**
 * Runs `operation` and collects its rejection, if any: in the document form, `touch` writes the
 * cookie alone, so a session refused by `set` for what is outside its cookie is touched.
 */
async function settled(path: Path, operation: () => Promise<unknown>): Promise<void> {
  try {
    await operation();
  } catch (error) {
    collect(path, error);
  }
}

/** Runs `operation`, which must reject, and collects the rejection. */
async function rejection(path: Path, operation: () => Promise<unknown>): Promise<unknown> {
  let caught: unknown;
  await assert.rejects(operation(), (error: unknown) => {
    caught = error;
    return true;
  });
  collect(path, caught);
  return caught;
}

/** Runs `action`, waits for the process warnings it causes, and collects them under `path` as well. */
async function warnings(path: Path, action: () => Promise<void>): Promise<void> {
  const before = collected.get('process warning')?.length ?? 0;
  await action();
  const count = () => collected.get('process warning')?.length ?? 0;
  await until(() => count() > before, 5_000, `${path}: a process warning`);
  for (const warning of (collected.get('process warning') ?? []).slice(before)) {
    collect(path, warning);
  }
}

// Process warnings and stderr, for the whole file.
const onWarning = (warning: Error) => collect('process warning', warning);
const writeStderr = process.stderr.write.bind(process.stderr);
let stderrText = '';
before(() => {
  process.on('warning', onWarning);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    stderrText += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return (writeStderr as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
});
after(() => {
  process.off('warning', onWarning);
  process.stderr.write = writeStderr;
});

let proxy: WireFaultProxy;
before(async () => {
  proxy = await startWireFaultProxy(testUri());
});
after(async () => {
  await proxy?.close();
});

let collectionCount = 0;
/**
 * A store on a collection of its own, through the wire-fault proxy unless `uri` is given, whose
 * `error` events are collected under `path` (none when `path` is undefined); closed when `t` ends.
 */
function storeFor(
  t: TestContext,
  path: Path | undefined,
  options: MongoDBStoreOptions = {},
): { store: MongoDBStore; collection: string; events: unknown[] } {
  collectionCount += 1;
  const collection = `leak_${collectionCount}`;
  const store = new MongoDBStore({
    uri: proxy.uri,
    databaseName: database.databaseName,
    collection,
    operationTimeoutMs: 3_000,
    ...options,
  });
  const events: unknown[] = [];
  if (path !== undefined) {
    store.on('error', (error: unknown) => {
      events.push(error);
      collect(path, error);
    });
  }
  t.after(() => store.close().catch(() => undefined));
  return { store, collection, events };
}

/** Injects a fault on the commands of one collection until the test ends. */
function inject(
  t: TestContext,
  command: string,
  collection: string,
  reply: Document,
  when: (body: Document) => boolean = () => true,
): void {
  const remove = proxy.inject({
    command,
    when: (body) => body[command] === collection && when(body),
    reply,
  });
  t.after(remove);
}

const secretSession = (): session.SessionData & Record<string, unknown> =>
  ({
    cookie: { expires: new Date(Date.now() + HOUR), originalMaxAge: HOUR },
    [KEY]: { value: VALUE },
  }) as unknown as session.SessionData & Record<string, unknown>;

/** A server's refusal of a command, as the wire-fault proxy sends it. */
const refused = (code: number, codeName: string, errmsg: string, extra: Document = {}) => ({
  ok: 0,
  code,
  codeName,
  errmsg,
  ...extra,
});

const duplicateKeyMessage = (field: string, id: string) =>
  `E11000 duplicate key error collection: app.sessions index: ${field}_1 dup key: { ${field}: "${id}" }`;

describe('driver errors quoting ids and keys', () => {
  // A duplicate on the id's own index means the id is held by an ended session: the write is
  // refused without an error (spec/session-termination.spec.ts). One on an index of the
  // application's is an error.
  test('a duplicate key on another unique index is an OperationError that quotes no id', async (t) => {
    const { store, collection } = storeFor(t, 'duplicate key (E11000 quoting the id)');
    inject(
      t,
      'update',
      collection,
      refused(11000, 'DuplicateKey', duplicateKeyMessage('session.email', SID), {
        keyPattern: { 'session.email': 1 },
        keyValue: { 'session.email': SID, [KEY]: VALUE },
      }),
    );
    const error = await rejection('duplicate key (E11000 quoting the id)', () =>
      store.set(SID, secretSession()),
    );
    // Kept for debugging, unprinted.
    const raw = (error as SessionStoreError).driverError as Error;
    assert.ok(raw.message.includes(SID), 'driverError is the driver error, message and all');
  });

  test('a duplicate key reported as a write error quotes no id either', async (t) => {
    const { store, collection } = storeFor(t, 'duplicate key as a write error');
    inject(t, 'update', collection, {
      ok: 1,
      n: 0,
      nModified: 0,
      writeErrors: [
        {
          index: 0,
          code: 11000,
          errmsg: duplicateKeyMessage('session.email', SID),
          keyPattern: { 'session.email': 1 },
          keyValue: { 'session.email': SID },
        },
      ],
    });
    await rejection('duplicate key as a write error', () => store.set(SID, secretSession()));
  });

  test("FerretDB's invalid key error quotes no key", async (t) => {
    const { store, collection } = storeFor(t, 'FerretDB invalid key');
    inject(t, 'update', collection, refused(2, 'BadValue', `invalid key: "${SID}" in ${KEY}`));
    await rejection('FerretDB invalid key', () => store.set(SID, secretSession()));
    await rejection('FerretDB invalid key', () =>
      store.touch(SID, {
        ...secretSession(),
        cookie: { expires: new Date(Date.now() + 2 * HOUR), originalMaxAge: 2 * HOUR },
      }),
    );
  });

  test('a refused read and a refused destroy quote no id', async (t) => {
    const { store, collection } = storeFor(t, 'read refused, quoting the id');
    inject(
      t,
      'find',
      collection,
      refused(13, 'Unauthorized', `not authorized to read { _id: "${SID}" }`),
    );
    inject(
      t,
      'delete',
      collection,
      refused(13, 'Unauthorized', `not authorized to delete { _id: "${SID}" }`),
    );
    inject(
      t,
      'update',
      collection,
      refused(13, 'Unauthorized', `not authorized to update { _id: "${SID}" }`),
    );
    await rejection('read refused, quoting the id', () => store.get(SID));
    await rejection('read refused, quoting the id', () => store.all());
    await rejection('read refused, quoting the id', () => store.ids());
    await rejection('destroy refused, quoting the id', () => store.destroy(SID));
    await rejection('destroy refused, quoting the id', () => store.destroy([SID, OTHER_SID]));
  });
});

describe('index failures', () => {
  const isTtl = (body: Document) => body.indexes?.[0]?.expireAfterSeconds !== undefined;
  const isUnique = (body: Document) => body.indexes?.[0]?.unique === true;
  const cases: Array<[Path, number, Path, number]> = [
    [
      'index failure 85 (TTL, then collMod refused)',
      85,
      'index failure 11000 (unique, quoting the id)',
      11000,
    ],
    ['index failure 86', 86, 'index failure 13', 13],
  ];
  for (const [ttlPath, ttlCode, uniquePath, uniqueCode] of cases) {
    test(`TTL index refused with ${ttlCode} and the unique index with ${uniqueCode}: IndexErrors that quote no key`, async (t) => {
      collectionCount += 1;
      const collection = `leak_${collectionCount}`;
      const reply = (code: number) =>
        refused(
          code,
          'Refused',
          code === 11000
            ? duplicateKeyMessage('sid', SID)
            : `Index already exists with different options: { ${KEY}: "${VALUE}", sid: "${SID}" }`,
        );
      inject(t, 'createIndexes', collection, reply(ttlCode), isTtl);
      inject(t, 'createIndexes', collection, reply(uniqueCode), isUnique);
      inject(t, 'collMod', collection, reply(13));
      const events: unknown[] = [];
      const store = new MongoDBStore({
        uri: proxy.uri,
        databaseName: database.databaseName,
        collection,
        idField: 'sid',
      });
      store.on('error', (error: unknown) => {
        events.push(error);
        collect((error as { index?: string }).index === 'ttl' ? ttlPath : uniquePath, error);
      });
      t.after(() => store.close());
      const status = await store.repository.whenIndexed();
      assert.equal(status.errors.length, 2, inspect(status));
      for (const error of status.errors) assert.deepEqual(leaked(error), []);
      await until(() => events.length === 2, 5_000, 'both index failures are error events');
    });
  }
});

describe('sweeps, network drops, absent servers', () => {
  test('a failing sweep is an error event that quotes no id', async (t) => {
    collectionCount += 1;
    const collection = `leak_${collectionCount}`;
    inject(
      t,
      'delete',
      collection,
      refused(13, 'Unauthorized', `not authorized: { _id: "${SID}" }`),
    );
    const store = new MongoDBStore({
      uri: proxy.uri,
      databaseName: database.databaseName,
      collection,
      autoRemove: 'interval',
      autoRemoveIntervalMs: 50,
    });
    const events: unknown[] = [];
    store.on('error', (error: unknown) => {
      events.push(error);
      collect('sweep failure', error);
    });
    t.after(() => store.close());
    await store.repository.ready();
    await until(() => events.length > 0, 10_000, 'the sweep failure is reported');
    assert.ok(events[0] instanceof SessionStoreError, "the event is one of the store's errors");
  });

  test('a connection dropped under an operation is an error that quotes no id', async (t) => {
    const tcp = await startTcpProxy(testUri());
    t.after(() => tcp.close());
    const { store } = storeFor(t, 'network drop', {
      uri: `mongodb://127.0.0.1:${tcp.port}/?directConnection=true&serverSelectionTimeoutMS=500`,
    });
    await store.set(SID, secretSession());
    await tcp.close();
    await rejection('network drop', () => store.get(SID));
    await rejection('network drop', () => store.set(SID, secretSession()));
  });

  test('an absent server: a ConnectionError that prints no password, as an event and as rejections', async (t) => {
    const port = await closedPort();
    const { store } = storeFor(t, 'absent server (password in the URI)', {
      uri: `mongodb://ann:${PASSWORD}@127.0.0.1:${port}/app?serverSelectionTimeoutMS=300`,
    });
    await rejection('absent server (password in the URI)', () => store.get(SID));
    await rejection('absent server (password in the URI)', () => store.set(SID, secretSession()));
    await rejection('absent server (password in the URI)', () => store.repository.whenIndexed());
    assert.ok(
      (collected.get('absent server (password in the URI)')?.length ?? 0) >= 3,
      'collected',
    );
  });

  test('an absent server and no error listener: a process warning that prints no password', async (t) => {
    const port = await closedPort();
    await warnings('absent server, no listener: process warning', async () => {
      const store = new MongoDBStore({
        uri: `mongodb://ann:${PASSWORD}@127.0.0.1:${port}/app?serverSelectionTimeoutMS=300`,
      });
      t.after(() => store.close());
    });
  });
});

describe('hostile input', () => {
  const path: Path = 'hostile input';
  const cookie = () => ({ expires: new Date(Date.now() + HOUR) });
  const circular = (): Record<string, unknown> => {
    const data: Record<string, unknown> = { cookie: cookie() };
    data[KEY] = { [VALUE]: data };
    return data;
  };
  const nested = (levels: number) => {
    let value: Record<string, unknown> = { [KEY]: VALUE };
    for (let level = 1; level < levels; level += 1) value = { [KEY]: value };
    return value;
  };
  const throwing = (method: 'toJSON' | 'toBSON') => ({
    [method]() {
      throw new Error(`cannot convert ${KEY}: ${VALUE} of ${SID}`);
    },
  });
  const sessions: Array<[string, () => object, MongoDBStoreOptions?]> = [
    ['a circular reference', circular],
    ['a Map', () => ({ cookie: cookie(), [KEY]: new Map([[VALUE, SID]]) })],
    ['a Set', () => ({ cookie: cookie(), [`a.$${KEY}`]: new Set([VALUE]) })],
    ['a string cookie', () => ({ cookie: VALUE })],
    ['an unparsable cookie expiry', () => ({ cookie: { expires: VALUE } })],
    ['nesting too deep', () => ({ cookie: cookie(), deep: nested(120) })],
    ['over 16 MiB', () => ({ cookie: cookie(), [KEY]: `${VALUE}${'x'.repeat(16 * 1024 * 1024)}` })],
    [
      'keys with $ and . beside a symbol',
      () => ({ cookie: cookie(), [`$${KEY}.x`]: Symbol(VALUE) }),
    ],
    ['a cookie whose toJSON throws quoting the value', () => ({ cookie: throwing('toJSON') })],
    ['a value whose toBSON throws', () => ({ cookie: cookie(), [KEY]: throwing('toBSON') })],
    [
      'JSON of a value whose toJSON throws',
      () => ({ cookie: cookie(), [KEY]: throwing('toJSON') }),
      { serializer: 'json' },
    ],
    ['JSON of a circular reference', circular, { serializer: 'json' }],
    [
      'a serializer whose stringify throws quoting the session',
      () => ({ cookie: cookie(), [KEY]: VALUE }),
      {
        serializer: {
          stringify: (value: unknown) => {
            throw new Error(`cannot stringify ${JSON.stringify(value)}`);
          },
          parse: JSON.parse,
        },
      },
    ],
  ];
  for (const [label, make, options] of sessions) {
    test(`${label}: refused by set and touch with an error that quotes nothing`, async (t) => {
      const { store } = storeFor(t, path, options);
      await rejection(path, () => store.set(SID, make() as session.SessionData));
      await settled(path, () => store.touch(SID, make() as session.SessionData));
    });
  }

  test('ids that are not strings, and a 5 000-character id, are refused quoting nothing', async (t) => {
    const { store } = storeFor(t, path);
    for (const id of [{ $ne: SID }, [SID], `${SID}${'x'.repeat(5_000)}`]) {
      await rejection(path, () => store.get(id as unknown as string));
    }
    // destroy takes a list of ids; one of them a query object.
    for (const id of [{ $ne: SID }, [{ $ne: SID }], `${SID}${'x'.repeat(5_000)}`]) {
      await rejection(path, () => store.destroy(id as unknown as string));
    }
  });
});

describe('unreadable and undecryptable documents', () => {
  const keyOf = () => ({ id: 'key-2026', key: randomBytes(32) });

  test('unreadable documents read as none, with error events that quote nothing', async (t) => {
    const path: Path = 'unreadable document';
    const parse = (text: string) => {
      throw new SyntaxError(`cannot parse ${text}`);
    };
    const { store, collection, events } = storeFor(t, path, {
      serializer: { stringify: JSON.stringify, parse },
    });
    const raw = database.db.collection<Document>(collection);
    const expires = new Date(Date.now() + HOUR);
    await raw.insertMany([
      { _id: SID as never, session: `{"${KEY}": "${VALUE}"`, expires },
      { _id: OTHER_SID as never, session: 42, expires },
    ]);
    assert.equal(await store.get(SID), null);
    assert.equal(await store.get(OTHER_SID), null);
    assert.deepEqual(await store.all(), []);
    await until(() => events.length >= 4, 5_000, 'every unreadable read is an error event');
  });

  test('an unreadable document with no error listener is a process warning that quotes nothing', async (t) => {
    const { store, collection } = storeFor(t, undefined);
    await database.db.collection<Document>(collection).insertOne({
      _id: SID as never,
      session: `not json ${VALUE}`,
      expires: new Date(Date.now() + HOUR),
    });
    await warnings('unreadable document, no listener: process warning', async () => {
      assert.equal(await store.get(SID), null);
    });
  });

  test('tampered, wrong-key, removed-key, moved and unencrypted reads: none, with error events that quote nothing', async (t) => {
    const key = keyOf();
    const hash = hashSessionId(randomBytes(32));
    const { store, collection } = storeFor(t, undefined, {
      encryption: { keys: [key] },
      transformId: hash,
    });
    await store.set(SID, secretSession());
    const raw = database.db.collection<Document>(collection);
    const stored = await raw.findOne({ _id: hash(SID) as never });
    assert.ok(stored !== null, 'the session is stored under its hash');
    const sealed = stored.session as BSON.Binary;
    const bytes = Buffer.from(sealed.buffer.subarray(0, sealed.position));

    const readAs = async (path: Path, options: MongoDBStoreOptions, sid = SID) => {
      const other = storeFor(t, path, { collection, ...options });
      assert.equal(await other.store.get(sid), null, `${path}: no session`);
      await until(() => other.events.length > 0, 5_000, `${path}: an error event`);
      return other.events;
    };
    // Another store, with another key under the same id, and with the key removed.
    await readAs('wrong key', {
      encryption: { keys: [{ id: key.id, key: randomBytes(32) }] },
      transformId: hash,
    });
    await readAs('removed key', { encryption: { keys: [keyOf()] }, transformId: hash });
    await readAs('encrypted document read without encryption', { transformId: hash });
    // Moved into another session's document.
    await raw.insertOne({ ...stored, _id: hash(OTHER_SID) as never });
    const moved = await readAs(
      'encrypted document moved to another id',
      { encryption: { keys: [key] }, transformId: hash },
      OTHER_SID,
    );
    assert.ok(moved[0] instanceof SessionDecryptionError, 'a SessionDecryptionError');
    // Altered in place.
    const altered = Buffer.from(bytes);
    altered[altered.length - 1] = (altered[altered.length - 1] ?? 0) ^ 0xff;
    await raw.updateOne(
      { _id: hash(SID) as never },
      { $set: { session: new BSON.Binary(altered, 0x80) } },
    );
    await readAs('tampered encrypted document', { encryption: { keys: [key] }, transformId: hash });
  });
});

describe('transformId, closing and deadlines', () => {
  test('a transformId returning bad values, or throwing with the id in its message, is refused quoting nothing', async (t) => {
    const results: Array<(sid: string) => unknown> = [
      () => 42,
      () => '',
      (sid) => ({ sid }),
      (sid) => {
        throw new Error(`cannot hash ${sid} with ${PASSWORD}`);
      },
    ];
    for (const transformId of results) {
      const { store } = storeFor(t, undefined, {
        transformId: transformId as (sid: string) => string,
      });
      for (const operation of [
        () => store.get(SID),
        () => store.set(SID, secretSession()),
        () => store.touch(SID, secretSession()),
        () => store.destroy([SID]),
      ]) {
        await rejection('transformId returning bad values', operation);
      }
    }
  });

  test('a closed store refuses every operation quoting nothing', async (t) => {
    const { store } = storeFor(t, 'closed store');
    await store.set(SID, secretSession());
    await store.close();
    await rejection('closed store', () => store.get(SID));
    await rejection('closed store', () => store.set(SID, secretSession()));
    await rejection('closed store', () => store.destroy(SID));
  });

  test('an operation past its deadline times out quoting nothing', async (t) => {
    const tcp = await startTcpProxy(testUri());
    t.after(() => tcp.close());
    const { store } = storeFor(t, 'operation timeout', {
      uri: `mongodb://127.0.0.1:${tcp.port}/?directConnection=true`,
      operationTimeoutMs: 300,
    });
    await store.repository.ready();
    tcp.freeze();
    await rejection('operation timeout', () => store.get(SID));
    await rejection('operation timeout', () => store.set(SID, secretSession()));
  });
});

describe('what Express logs', () => {
  test("Express's default error handler writes nothing secret to stderr", async (t) => {
    const { store, collection } = storeFor(t, undefined);
    inject(t, 'find', collection, refused(2, 'BadValue', `invalid key: "${SID}"`));
    const app = express();
    app.set('env', 'development');
    app.use(session({ store, secret: APP_SECRET, resave: false, saveUninitialized: false }));
    app.get('/', (req, res) => {
      res.send(String(req.session.cookie.maxAge));
    });
    const server = await listen(app);
    t.after(() => server.close());
    const browser = new HttpClient(server.url);
    const signature = createHmac('sha256', APP_SECRET)
      .update(SID)
      .digest('base64')
      .replace(/=+$/, '');
    browser.setCookie('connect.sid', encodeURIComponent(`s:${SID}.${signature}`));
    const start = stderrText.length;
    const response = await browser.get('/');
    assert.equal(response.status, 500);
    const logged = stderrText.slice(start);
    assert.match(logged, /OperationError/, 'the default handler logged the error');
    collect('Express default error handler (stderr)', logged);
  });
});

test('every path was exercised, and nothing collected prints a marker', (t) => {
  const missing = PATHS.filter((path) => (collected.get(path)?.length ?? 0) === 0);
  assert.deepEqual(missing, [], 'paths that collected nothing');
  for (const [path, items] of collected) {
    for (const item of items) assert.deepEqual(leaked(item), [], `${path} leaked`);
  }
  collect('stderr', stderrText);
  const counts = [...collected].map(([path, items]) => `${path}: ${items.length}`);
  t.diagnostic(`${counts.length} paths; ${counts.join('; ')}`);
});
