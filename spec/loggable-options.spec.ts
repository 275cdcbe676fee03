/**
 * The options can be logged: every printed or serialised form of `store.options` and
 * `repository.options` (`util.inspect`, `console.log`, `JSON.stringify`, `String`) blanks the
 * credentials, while reading a property still gives the value the driver connects with. And no
 * refusal of a connection string or a client option quotes its value.
 */
import assert from 'node:assert/strict';
import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { format, inspect } from 'node:util';
import type { SessionData } from 'express-session';
import { MongoClient } from 'mongodb';
import { MongoDBStore, type MongoDBStoreOptions, SessionRepository } from '../lib/index.js';
import { optionsView, resolveOptions } from '../lib/options/options.js';
import { useSpecDatabase } from './support/database.js';
import { closedPort } from './support/tcp-proxy.js';

const database = useSpecDatabase(import.meta.url);

const PASSWORD = 'PW-MARKER-7c2e';
const TOKEN = 'TOKEN-MARKER-a41d';

/** Every way an application prints or serialises a value: the inspector, console, JSON, strings. */
function printedForms(value: unknown): string[] {
  let logged = '';
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged += chunk.toString();
      done();
    },
  });
  const sink = new Console({ stdout });
  sink.log(value);
  sink.log('%o %O %j %s', value, value, value, value);
  sink.dir(value, { depth: Infinity });
  return [
    logged,
    inspect(value),
    inspect(value, { depth: Infinity }),
    inspect(value, { depth: Infinity, showHidden: true, getters: true }),
    format('%o', value),
    JSON.stringify(value) ?? '',
    JSON.stringify({ options: value }, null, 2),
    String(value),
    `${value}`,
  ];
}

/** Fails naming the form that shows a secret. */
function assertPrintsNoSecret(label: string, value: unknown): void {
  for (const form of printedForms(value)) {
    for (const secret of [PASSWORD, TOKEN]) {
      assert.equal(form.includes(secret), false, `${label} prints a secret: ${form}`);
    }
  }
}

/** A store of the given options on a port nobody listens on, its failure to connect handled. */
async function storeFor(t: TestContext, options: MongoDBStoreOptions): Promise<MongoDBStore> {
  const store = new MongoDBStore(options, () => undefined);
  t.after(() => store.close());
  return store;
}

const credentialed: Array<[string, (port: number) => MongoDBStoreOptions]> = [
  [
    'a uri with user:password',
    (port) => ({ uri: `mongodb://alice:${PASSWORD}@127.0.0.1:${port}/app` }),
  ],
  [
    'a uri with user:password and authSource',
    (port) => ({ uri: `mongodb://alice:${PASSWORD}@127.0.0.1:${port}/app?authSource=admin` }),
  ],
  [
    'a uri whose password has a space and quotes, as the driver accepts',
    (port) => ({ uri: `mongodb://alice:${PASSWORD}%20x "y' z@127.0.0.1:${port}/app` }),
  ],
  [
    'a uri with a TLS key password and AWS session token among its parameters',
    (port) => ({
      uri: `mongodb://127.0.0.1:${port}/app?authMechanismProperties=AWS_SESSION_TOKEN:${TOKEN}&tlsCertificateKeyFilePassword=${PASSWORD}`,
    }),
  ],
  [
    'connectionOptions with auth: { username, password }',
    (port) => ({
      uri: `mongodb://127.0.0.1:${port}/app`,
      connectionOptions: { auth: { username: 'alice', password: PASSWORD } },
    }),
  ],
  [
    'connectionOptions with tlsCertificateKeyFilePassword',
    (port) => ({
      uri: `mongodb://127.0.0.1:${port}/app`,
      connectionOptions: { tlsCertificateKeyFilePassword: PASSWORD },
    }),
  ],
  [
    "connectionOptions of driver 3's user and password, and sslPass",
    (port) => ({
      uri: `mongodb://127.0.0.1:${port}/app`,
      connectionOptions: { user: 'alice', password: PASSWORD, sslPass: TOKEN } as never,
    }),
  ],
  [
    'connectionOptions with authMechanismProperties',
    (port) => ({
      uri: `mongodb://alice@127.0.0.1:${port}/app`,
      connectionOptions: {
        authMechanism: 'GSSAPI',
        authMechanismProperties: { SERVICE_REALM: TOKEN },
      },
    }),
  ],
];

for (const [name, options] of credentialed) {
  test(`${name}: store.options and repository.options print no secret in any form`, async (t) => {
    const store = await storeFor(t, options(await closedPort()));
    const { repository } = store;
    assertPrintsNoSecret('store.options', store.options);
    assertPrintsNoSecret('store.options.connectionOptions', store.options.connectionOptions);
    assertPrintsNoSecret('repository.options', repository.options);
    assertPrintsNoSecret('repository.options.source', repository.options.source);
    // The objects that hold the options print them blanked; their `client` getters give the
    // driver's client, which prints as the driver prints it.
    for (const [label, holder] of [
      ['the store', store],
      ['the repository', repository],
    ] as const) {
      for (const form of [
        inspect(holder, { depth: Infinity }),
        format('%o', holder),
        inspect(holder, { depth: Infinity, customInspect: false }),
      ]) {
        assert.equal(form.includes(PASSWORD), false, `${label} prints a secret: ${form}`);
        assert.equal(form.includes(TOKEN), false, `${label} prints a secret: ${form}`);
      }
    }
  });
}

test("autoEncryption's KMS credentials print blanked (options resolved without a client: the module it needs is not installed)", () => {
  const resolved = resolveOptions({
    connectionOptions: {
      autoEncryption: {
        keyVaultNamespace: 'encryption.__keyVault',
        kmsProviders: {
          aws: { accessKeyId: 'AKIA', secretAccessKey: PASSWORD, sessionToken: TOKEN },
          local: { key: Buffer.from(PASSWORD) },
        },
      },
    },
  });
  assertPrintsNoSecret('repository.options', resolved);
  assertPrintsNoSecret('store.options', optionsView(resolved));
  assert.match(JSON.stringify(resolved), /"keyVaultNamespace":"encryption.__keyVault"/);
});

test('the printed options show what is not secret, with the secrets blanked in place', async (t) => {
  const port = await closedPort();
  const store = await storeFor(t, {
    uri: `mongodb://alice:${PASSWORD}@127.0.0.1:${port}/app?authSource=admin&tlsCertificateKeyFilePassword=${PASSWORD}`,
    connectionOptions: { auth: { username: 'bob', password: PASSWORD }, appName: 'shop' },
    collection: 'carts',
  });
  const printed = JSON.parse(JSON.stringify(store.options)) as Record<string, unknown>;
  assert.equal(
    printed.uri,
    `mongodb://<credentials>@127.0.0.1:${port}/app?authSource=admin&tlsCertificateKeyFilePassword=<redacted>`,
  );
  assert.deepEqual(printed.connectionOptions, {
    auth: { username: 'bob', password: '<redacted>' },
    appName: 'shop',
    serverSelectionTimeoutMS: 3000,
  });
  assert.equal(printed.collection, 'carts');
  assert.equal(printed.expiresKey, 'expires', "the store's own option names are no secrets");
  assert.match(inspect(store.repository.options), /uri: 'mongodb:\/\/<credentials>@127\.0\.0\.1/);
  // console.dir skips the hooks: the secret fields are getters, which it does not call.
  const dir = inspect(store.options, { customInspect: false, depth: Infinity });
  assert.match(dir, /uri: \[Getter\]/);
  assert.match(dir, /auth: \{ username: 'bob', password: \[Getter\] \}/);
});

test('reading the options gives the real values, and the client gets them', async (t) => {
  const uri = `mongodb://alice:${PASSWORD}@127.0.0.1:${await closedPort()}/app?authSource=admin`;
  const store = await storeFor(t, {
    uri,
    connectionOptions: { tlsCertificateKeyFilePassword: TOKEN },
  });
  const { source } = store.repository.options;
  assert.equal(store.options.uri, uri, "version 5's store.options.uri");
  assert.equal(source.kind === 'uri' && source.uri, uri);
  assert.equal(store.options.connectionOptions?.tlsCertificateKeyFilePassword, TOKEN);
  assert.equal(store.client.options.credentials?.password, PASSWORD, 'the driver has the password');
  assert.equal(store.client.options.credentials?.source, 'admin');
  assert.deepEqual(Object.keys({ ...store.options }), Object.keys(store.options));
  assert.equal({ ...store.options }.uri, uri, 'a copy has the real value too');
  assert.ok(Object.isFrozen(store.options) && Object.isFrozen(store.repository.options));
});

test('a store given its options connects and works; its printed options still parse', async (t) => {
  const store = new MongoDBStore({
    uri: database.uri,
    databaseName: database.databaseName,
    collection: 'working',
    connectionOptions: { appName: 'loggable-options' },
  });
  t.after(() => store.close());
  const session = {
    cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) },
    views: 3,
  } as unknown as SessionData;
  await store.set('sid-working', session);
  assert.equal(((await store.get('sid-working')) as { views?: number } | null)?.views, 3);
  assert.equal(store.client.options.appName, 'loggable-options');
  assert.equal(store.options.uri, database.uri);
  const printed = JSON.parse(JSON.stringify(store.options)) as { databaseName: string };
  assert.equal(printed.databaseName, database.databaseName);
});

test("a client given as the option prints as <MongoClient>, not its connection string's password", () => {
  const client = new MongoClient(`mongodb://alice:${PASSWORD}@127.0.0.1:1/app`);
  const repository = new SessionRepository({ client });
  assert.equal(
    repository.options.source.kind === 'client' && repository.options.source.client,
    client,
  );
  assertPrintsNoSecret('repository.options', repository.options);
  assert.match(inspect(repository.options), /client: '<MongoClient>'/);
});

test('encryption keys print as KeyObjects, without their bytes', () => {
  const key = Buffer.alloc(32, 7);
  const repository = new SessionRepository({ encryption: { keys: [{ id: 'k1', key }] } });
  for (const form of printedForms(repository.options)) {
    assert.equal(form.includes(key.toString('hex').slice(0, 16)), false);
    assert.equal(form.includes(key.toString('base64').slice(0, 16)), false);
    assert.equal(form.includes('07 07 07 07'), false);
  }
  assert.match(inspect(repository.options, { depth: Infinity }), /k1/);
});

const refusals: Array<[string, () => unknown, RegExp]> = [
  [
    'options given as a connection string',
    () => new SessionRepository(`mongodb://alice:${PASSWORD}@127.0.0.1/` as never),
    /options to be an object, got a string of length \d+/,
  ],
  [
    'a uri given as a URL object',
    () => new SessionRepository({ uri: new URL(`mongodb://alice:${PASSWORD}@h/`) as never }),
    /`uri` to be a non-empty string, got an object/,
  ],
  [
    'a uri of another scheme',
    () => new SessionRepository({ uri: `http://alice:${PASSWORD}@h/` }),
    /`uri` to be a MongoDB connection string/,
  ],
  [
    'a uri the driver refuses',
    () => new SessionRepository({ uri: `mongodb://alice:${PASSWORD}@h:99999/` }),
    /`uri` and `connectionOptions` to be accepted by the MongoDB driver/,
  ],
  [
    'a uri with a secret parameter given twice',
    () =>
      new SessionRepository({
        uri: `mongodb://h/?tlsCertificateKeyFilePassword=${PASSWORD}&tlsCertificateKeyFilePassword=${TOKEN}`,
      }),
    /accepted by the MongoDB driver/,
  ],
  [
    'connectionOptions given as a connection string',
    () => new SessionRepository({ connectionOptions: `mongodb://alice:${PASSWORD}@h/` as never }),
    /`connectionOptions` to be an object, got a string of length \d+/,
  ],
  [
    "connectionOptions with driver 5's sslKey",
    () => new SessionRepository({ connectionOptions: { sslKey: PASSWORD } as never }),
    /`connectionOptions.sslKey` \(a string of length \d+\)/,
  ],
  [
    "connectionOptions with driver 3's server group",
    () =>
      new SessionRepository({
        connectionOptions: { server: { sslPass: PASSWORD } } as never,
      }),
    /`connectionOptions.server` \(an object\)/,
  ],
  [
    'a client that is a connection string',
    () => new SessionRepository({ client: `mongodb://alice:${PASSWORD}@h/` as never }),
    /`client` to be a MongoClient, got a string/,
  ],
  [
    'a clientPromise that is a connection string',
    () => new SessionRepository({ clientPromise: `mongodb://alice:${PASSWORD}@h/` as never }),
    /`clientPromise` to be a promise/,
  ],
  [
    'a uri beside a client',
    () =>
      new SessionRepository({
        uri: `mongodb://alice:${PASSWORD}@h/`,
        client: new MongoClient('mongodb://h/'),
      }),
    /one of `uri`, `client` or `clientPromise`, got `uri` and `client`/,
  ],
];

for (const [name, construct, expected] of refusals) {
  test(`${name}: a TypeError that names the option and quotes no value`, () => {
    let caught: unknown;
    try {
      construct();
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof TypeError, `${name} is refused with a TypeError`);
    assert.match(caught.message, expected);
    for (const form of [caught.message, caught.stack ?? '', inspect(caught, { depth: Infinity })]) {
      assert.equal(form.includes(PASSWORD), false, `the refusal quotes a secret: ${form}`);
      assert.equal(form.includes(TOKEN), false, `the refusal quotes a secret: ${form}`);
    }
  });
}
