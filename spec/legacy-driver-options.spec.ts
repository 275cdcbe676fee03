/**
 * Options of MongoDB drivers 2 to 5: pure translations, proven against real clients of drivers 7
 * and 6 (constructed, never connected: 127.0.0.1:1 is never dialled).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MongoClient as MongoClient7 } from 'mongodb';
import { MongoClient as MongoClient6 } from 'mongodb6';
import { translateConnectionOptions } from '../lib/options/legacy-connection-options.js';
import { legacyOptionsWarning, translateUriOptions } from '../lib/options/legacy-driver-options.js';
import { assertNoConnectMongoNames, unknownOptionWarning } from '../lib/options/option-names.js';

const URI = 'mongodb://127.0.0.1:1/';

/** Options of drivers 2 to 5 without effect in drivers 6 and 7 (and Mongoose's two). */
const REMOVED = [
  'useNewUrlParser',
  'useUnifiedTopology',
  'autoReconnect',
  'auto_reconnect',
  'reconnectTries',
  'reconnectInterval',
  'bufferMaxEntries',
  'ha',
  'haInterval',
  'secondaryAcceptableLatencyMS',
  'connectWithNoPrimary',
  'domainsEnabled',
  'validateOptions',
  'numberOfRetries',
  'useRecoveryToken',
  'native_parser',
  'useCreateIndex',
  'useFindAndModify',
  'promiseLibrary',
  'logger',
  'loggerLevel',
  'keepAlive',
];

const DRIVERS = [
  ['7', MongoClient7],
  ['6', MongoClient6],
] as const;

type ClientOptions = Record<string, unknown> & {
  credentials?: {
    username: string;
    password: string;
    mechanismProperties: Record<string, unknown>;
  };
};

/** The resolved options of a client each driver constructs (no connection is made). */
function constructed(uri: string, options: Record<string, unknown> = {}) {
  return DRIVERS.map(([version, MongoClient]) => ({
    version,
    options: new MongoClient(uri, options).options as unknown as ClientOptions,
  }));
}

// --- Removed options ----------------------------------------------------------------------------

test('useNewUrlParser and useUnifiedTopology are dropped and serverSelectionTimeoutMS is kept', () => {
  const result = translateConnectionOptions({
    useNewUrlParser: true,
    useUnifiedTopology: true,
    serverSelectionTimeoutMS: 10000,
  });

  assert.deepEqual(result.options, { serverSelectionTimeoutMS: 10000 });
  assert.deepEqual(result.dropped, ['useNewUrlParser', 'useUnifiedTopology']);
  assert.deepEqual(result.renamed, []);
});

for (const name of REMOVED) {
  test(`${name} is dropped, which driver 7 refuses as given, and both drivers construct a client without it`, () => {
    const result = translateConnectionOptions({ [name]: 1, appName: 'kept' });

    assert.deepEqual(result.options, { appName: 'kept' });
    assert.deepEqual(result.dropped, [name]);
    assert.throws(() => new MongoClient7(URI, { [name]: 1 }), /not supported/);
    for (const { options } of constructed(URI, result.options)) {
      assert.equal(options.appName, 'kept');
    }
  });
}

test('on driver 6 the translated options raise no deprecation warning, unlike the options as given', async () => {
  const warnings: string[] = [];
  const record = (warning: Error) => warnings.push(warning.message);
  process.on('warning', record);
  try {
    const legacy: Record<string, unknown> = { useNewUrlParser: true, useUnifiedTopology: true };
    new MongoClient6(URI, translateConnectionOptions(legacy).options);
    await new Promise((resolve) => setImmediate(resolve));
    const afterTranslation = warnings.length;
    new MongoClient6(URI, legacy);
    await new Promise((resolve) => setImmediate(resolve));

    assert.equal(afterTranslation, 0);
    assert.ok(
      warnings.some((message) => message.includes('useNewUrlParser')),
      'driver 6 warns about useNewUrlParser as given',
    );
  } finally {
    process.off('warning', record);
  }
});

test('keepAlive: false is dropped with a note that keep-alive cannot be turned off', () => {
  const result = translateConnectionOptions({ keepAlive: false });

  assert.deepEqual(result.dropped, ['keepAlive']);
  assert.match(result.notes.join('\n'), /`keepAlive: false` cannot be honoured/);
  assert.match(legacyOptionsWarning(result, 'connectionOptions') ?? '', /cannot be honoured/);
});

test('keepAlive: true is dropped without a note', () => {
  const result = translateConnectionOptions({ keepAlive: true });

  assert.deepEqual(result.dropped, ['keepAlive']);
  assert.deepEqual(result.notes, []);
});

test('autoReconnect: false is dropped with a note that the client always reconnects', () => {
  const result = translateConnectionOptions({ autoReconnect: false });

  assert.match(result.notes.join('\n'), /always reconnects/);
});

// --- Renamed options, proven on both drivers ----------------------------------------------------

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

interface RenameCase {
  readonly legacy: Record<string, unknown>;
  readonly uri?: string;
  readonly translated: Record<string, unknown>;
  readonly check: (options: ClientOptions) => void;
}

const RENAME_CASES: Record<string, RenameCase> = {
  'poolSize as maxPoolSize': {
    legacy: { poolSize: 5 },
    translated: { maxPoolSize: 5 },
    check: (options) => assert.equal(options.maxPoolSize, 5),
  },
  'minSize as minPoolSize': {
    legacy: { minSize: 2 },
    translated: { minPoolSize: 2 },
    check: (options) => assert.equal(options.minPoolSize, 2),
  },
  'acceptableLatencyMS as localThresholdMS': {
    legacy: { acceptableLatencyMS: 20 },
    translated: { localThresholdMS: 20 },
    check: (options) => assert.equal(options.localThresholdMS, 20),
  },
  'sslPass as tlsCertificateKeyFilePassword': {
    legacy: { sslPass: 'key password' },
    translated: { tlsCertificateKeyFilePassword: 'key password' },
    check: (options) => assert.equal(options.passphrase, 'key password'),
  },
  'sslValidate: false as rejectUnauthorized: false': {
    legacy: { ssl: true, sslValidate: false },
    translated: { ssl: true, rejectUnauthorized: false },
    check: (options) => assert.equal(options.rejectUnauthorized, false),
  },
  'sslValidate: true as rejectUnauthorized: true': {
    legacy: { ssl: true, sslValidate: true },
    translated: { ssl: true, rejectUnauthorized: true },
    check: (options) => assert.equal(options.rejectUnauthorized, true),
  },
  'sslCA as a PEM string as ca': {
    legacy: { sslCA: PEM },
    translated: { ca: PEM },
    check: (options) => assert.equal(options.ca, PEM),
  },
  'sslCA as a Buffer as ca': {
    legacy: { sslCA: Buffer.from(PEM) },
    translated: { ca: Buffer.from(PEM) },
    check: (options) => assert.deepEqual(options.ca, Buffer.from(PEM)),
  },
  'sslCA as an array as ca': {
    legacy: { sslCA: [PEM] },
    translated: { ca: [PEM] },
    check: (options) => assert.deepEqual(options.ca, [PEM]),
  },
  'sslCA as a path as tlsCAFile': {
    legacy: { sslCA: '/etc/ssl/ca.pem' },
    translated: { tlsCAFile: '/etc/ssl/ca.pem' },
    check: (options) => assert.equal(options.tlsCAFile, '/etc/ssl/ca.pem'),
  },
  'sslCRL as a PEM string as crl': {
    legacy: { sslCRL: PEM },
    translated: { crl: PEM },
    check: (options) => assert.equal(options.crl, PEM),
  },
  'sslCRL as a path as tlsCRLFile': {
    legacy: { sslCRL: '/etc/ssl/crl.pem' },
    translated: { tlsCRLFile: '/etc/ssl/crl.pem' },
    check: (options) => assert.equal(options.tlsCRLFile, '/etc/ssl/crl.pem'),
  },
  'compression flattened into compressors and zlibCompressionLevel': {
    legacy: { compression: { compressors: ['zlib'], zlibCompressionLevel: 6 } },
    translated: { compressors: ['zlib'], zlibCompressionLevel: 6 },
    check: (options) => {
      assert.deepEqual(options.compressors, ['zlib']);
      assert.equal(options.zlibCompressionLevel, 6);
    },
  },
  'top-level user and password as auth': {
    legacy: { user: 'alice', password: 'pw' },
    translated: { auth: { username: 'alice', password: 'pw' } },
    check: (options) => {
      assert.equal(options.credentials?.username, 'alice');
      assert.equal(options.credentials?.password, 'pw');
    },
  },
  'auth.user as auth.username': {
    legacy: { auth: { user: 'alice', password: 'pw' } },
    translated: { auth: { username: 'alice', password: 'pw' } },
    check: (options) => assert.equal(options.credentials?.username, 'alice'),
  },
  'gssapiServiceName as authMechanismProperties.SERVICE_NAME': {
    uri: 'mongodb://alice%40EXAMPLE.COM@127.0.0.1:1/?authMechanism=GSSAPI',
    legacy: { gssapiServiceName: 'mongo' },
    translated: { authMechanismProperties: { SERVICE_NAME: 'mongo' } },
    check: (options) =>
      assert.equal(options.credentials?.mechanismProperties.SERVICE_NAME, 'mongo'),
  },
  'gssapiServiceName merged into the authMechanismProperties given': {
    uri: 'mongodb://alice%40EXAMPLE.COM@127.0.0.1:1/?authMechanism=GSSAPI',
    legacy: { gssapiServiceName: 'mongo', authMechanismProperties: { SERVICE_REALM: 'R' } },
    translated: { authMechanismProperties: { SERVICE_REALM: 'R', SERVICE_NAME: 'mongo' } },
    check: (options) =>
      assert.deepEqual(
        { ...options.credentials?.mechanismProperties },
        { SERVICE_REALM: 'R', SERVICE_NAME: 'mongo' },
      ),
  },
};

for (const [label, { legacy, uri = URI, translated, check }] of Object.entries(RENAME_CASES)) {
  test(`${label}: translated, and drivers 7 and 6 construct a client with it`, () => {
    const result = translateConnectionOptions(legacy);

    assert.deepEqual(result.options, translated);
    assert.throws(() => new MongoClient7(uri, legacy), /not supported|must be an object/);
    for (const { version, options } of constructed(uri, result.options)) {
      assert.doesNotThrow(() => check(options), `driver ${version}`);
    }
  });
}

test('renamed pairs each old name with its new name', () => {
  const result = translateConnectionOptions({ poolSize: 5, sslCA: '/ca.pem', user: 'u' });

  assert.deepEqual(result.renamed, [
    ['poolSize', 'maxPoolSize'],
    ['sslCA', 'tlsCAFile'],
    ['user', 'auth.username'],
  ]);
  assert.deepEqual(result.dropped, []);
});

test('the translated options are a new object and the given ones are not changed', () => {
  const given = { poolSize: 5, auth: { user: 'u', password: 'p' } };
  const copy = structuredClone(given);

  const result = translateConnectionOptions(given);

  assert.notEqual(result.options, given);
  assert.deepEqual(given, copy);
});

// --- Refused options ----------------------------------------------------------------------------

const REFUSED: Record<string, RegExp> = {
  sslCert: /`cert`.*`key`.*`tlsCertificateKeyFile`/,
  sslKey: /`key`.*`cert`.*`tlsCertificateKeyFile`/,
  tlsCertificateFile: /`tlsCertificateKeyFile`/,
  server: /top level of `connectionOptions`/,
  replset: /top level of `connectionOptions`/,
  replSet: /top level of `connectionOptions`/,
  mongos: /top level of `connectionOptions`/,
  db: /top level of `connectionOptions`/,
};

for (const [name, instead] of Object.entries(REFUSED)) {
  test(`${name} is refused with a TypeError naming it and what to pass instead`, () => {
    assert.throws(
      () => translateConnectionOptions({ [name]: 'secret-value' }),
      (error: unknown) => {
        assert.ok(error instanceof TypeError, 'a TypeError');
        assert.match(error.message, new RegExp(`\`connectionOptions\\.${name}\``));
        assert.match(error.message, instead);
        assert.match(error.message, /\(a string of length \d+\)/);
        assert.doesNotMatch(error.message, /secret-value/);
        return true;
      },
    );
  });
}

test('a refused option is refused in any letter case, under the spelling given', () => {
  assert.throws(() => translateConnectionOptions({ SSLCert: 'x' }), /`connectionOptions\.SSLCert`/);
});

// --- Letter case, null values, precedence, pass-through ----------------------------------------

test('names match in any letter case', () => {
  const result = translateConnectionOptions({ POOLSIZE: 5, UseNewUrlParser: true });

  assert.deepEqual(result.options, { maxPoolSize: 5 });
  assert.deepEqual(result.renamed, [['POOLSIZE', 'maxPoolSize']]);
  assert.deepEqual(result.dropped, ['UseNewUrlParser']);
});

test('of two spellings of an old name the last wins, as in the driver, and the other is dropped', () => {
  const result = translateConnectionOptions({ poolSize: 5, POOLSIZE: 6 });

  assert.deepEqual(result.options, { maxPoolSize: 6 });
  assert.deepEqual(result.dropped, ['poolSize']);
});

test('an option whose value is null or undefined is kept as it is and not reported', () => {
  const given = { useNewUrlParser: null, poolSize: undefined, sslCert: undefined, server: null };

  const result = translateConnectionOptions(given);

  assert.deepEqual(result.options, given);
  assert.deepEqual(result.dropped, []);
  assert.deepEqual(result.renamed, []);
  for (const { options } of constructed(URI, result.options))
    assert.equal(options.maxPoolSize, 100);
});

test('a new name given as undefined does not count as given', () => {
  const result = translateConnectionOptions({ poolSize: 5, maxPoolSize: undefined });

  assert.deepEqual(result.options, { maxPoolSize: 5 });
});

const PRECEDENCE: Record<string, [legacy: Record<string, unknown>, kept: Record<string, unknown>]> =
  {
    maxPoolSize: [{ poolSize: 5, maxPoolSize: 7 }, { maxPoolSize: 7 }],
    'maxPoolSize in another letter case': [{ poolSize: 5, MAXPOOLSIZE: 7 }, { MAXPOOLSIZE: 7 }],
    tlsInsecure: [{ sslValidate: true, tlsInsecure: true }, { tlsInsecure: true }],
    tlsAllowInvalidCertificates: [
      { sslValidate: true, tlsAllowInvalidCertificates: true },
      { tlsAllowInvalidCertificates: true },
    ],
    tlsCAFile: [{ sslCA: PEM, tlsCAFile: '/ca.pem' }, { tlsCAFile: '/ca.pem' }],
    compressors: [
      { compression: { compressors: ['zlib'] }, compressors: ['zstd'] },
      { compressors: ['zstd'] },
    ],
    auth: [
      { user: 'old', password: 'old', auth: { username: 'new', password: 'new' } },
      { auth: { username: 'new', password: 'new' } },
    ],
    'auth.username': [
      { auth: { user: 'old', username: 'new', password: 'p' } },
      { auth: { username: 'new', password: 'p' } },
    ],
    'authMechanismProperties.SERVICE_NAME': [
      { gssapiServiceName: 'old', authMechanismProperties: { SERVICE_NAME: 'new' } },
      { authMechanismProperties: { SERVICE_NAME: 'new' } },
    ],
  };

for (const [newer, [legacy, kept]] of Object.entries(PRECEDENCE)) {
  test(`given beside its old name, ${newer} wins and the old name is dropped with a note`, () => {
    const result = translateConnectionOptions(legacy);

    assert.deepEqual(result.options, kept);
    assert.deepEqual(result.renamed, []);
    assert.ok(result.dropped.length > 0, 'the old name is in dropped');
    assert.match(result.notes.join('\n'), /is given too/);
  });
}

test('a new name in the connection string wins over the old name in connectionOptions', () => {
  const result = translateConnectionOptions({ sslValidate: true }, `${URI}?tlsInsecure=true`);

  assert.deepEqual(result.options, {});
  assert.deepEqual(result.dropped, ['sslValidate']);
});

test('options unknown to this module pass through for the driver to judge', () => {
  const given = { appName: 'app', somethingElse: 1, password: 'alone' };

  const result = translateConnectionOptions(given);

  assert.deepEqual(result.options, given);
  assert.deepEqual(result.dropped, []);
  assert.throws(() => new MongoClient7(URI, result.options), /not supported/);
});

test('a __proto__ key is copied as an own property, never into the prototype', () => {
  const given = JSON.parse('{"__proto__": {"polluted": true}, "poolSize": 5}') as Record<
    string,
    unknown
  >;

  const result = translateConnectionOptions(given);

  assert.equal(Object.getPrototypeOf(result.options), Object.prototype);
  assert.deepEqual(Object.keys(result.options), ['__proto__', 'maxPoolSize']);
  assert.equal((result.options as { polluted?: unknown }).polluted, undefined);
});

// --- The connection string ----------------------------------------------------------------------

test('the query of a connection string drops removed options and keeps the rest byte-identical', () => {
  const uri =
    'mongodb://us%40er:p%3Ass@h1:27017,h2/db?useNewUrlParser=true&w=majority&useUnifiedTopology=true&appName=a%20b';

  const result = translateUriOptions(uri);

  assert.equal(result.uri, 'mongodb://us%40er:p%3Ass@h1:27017,h2/db?w=majority&appName=a%20b');
  assert.deepEqual(result.dropped, ['useNewUrlParser', 'useUnifiedTopology']);
});

test('a query left empty loses its question mark', () => {
  assert.equal(translateUriOptions(`${URI}db?useNewUrlParser=true`).uri, `${URI}db`);
});

test('a connection string without legacy options is returned unchanged', () => {
  const uri = 'mongodb+srv://cluster.example/db?retryWrites=true&w=majority';

  const result = translateUriOptions(uri);

  assert.equal(result.uri, uri);
  assert.deepEqual(result.dropped, []);
  assert.deepEqual(result.renamed, []);
});

const URI_CASES: Record<
  string,
  [query: string, translated: string, check: (o: ClientOptions) => void]
> = {
  poolSize: ['poolSize=5', 'maxPoolSize=5', (o) => assert.equal(o.maxPoolSize, 5)],
  minSize: ['minSize=2', 'minPoolSize=2', (o) => assert.equal(o.minPoolSize, 2)],
  acceptableLatencyMS: [
    'acceptableLatencyMS=20',
    'localThresholdMS=20',
    (o) => assert.equal(o.localThresholdMS, 20),
  ],
  sslPass: [
    'sslPass=p%40ss',
    'tlsCertificateKeyFilePassword=p%40ss',
    (o) => assert.equal(o.passphrase, 'p@ss'),
  ],
  sslCA: ['sslCA=%2Fca.pem', 'tlsCAFile=%2Fca.pem', (o) => assert.equal(o.tlsCAFile, '/ca.pem')],
  sslCRL: [
    'sslCRL=%2Fcrl.pem',
    'tlsCRLFile=%2Fcrl.pem',
    (o) => assert.equal(o.tlsCRLFile, '/crl.pem'),
  ],
  'sslValidate=false': [
    'sslValidate=false',
    'tlsAllowInvalidCertificates=true',
    (o) => assert.equal(o.rejectUnauthorized, false),
  ],
  'sslValidate=true': [
    'sslValidate=true',
    'tlsAllowInvalidCertificates=false',
    (o) => assert.equal(o.rejectUnauthorized, true),
  ],
  'POOLSIZE in capitals': ['POOLSIZE=5', 'maxPoolSize=5', (o) => assert.equal(o.maxPoolSize, 5)],
};

for (const [label, [query, translated, check]] of Object.entries(URI_CASES)) {
  test(`${label} in a connection string is translated, and drivers 7 and 6 construct a client from it`, () => {
    const result = translateUriOptions(`${URI}?tls=true&${query}&appName=x`);

    assert.equal(result.uri, `${URI}?tls=true&${translated}&appName=x`);
    assert.equal(result.renamed.length, 1);
    assert.throws(() => new MongoClient7(`${URI}?tls=true&${query}`), /not supported/);
    for (const { version, options } of constructed(result.uri)) {
      assert.doesNotThrow(() => check(options), `driver ${version}`);
    }
  });
}

test('sslValidate with a value other than true or false is left for the driver to report', () => {
  const uri = `${URI}?sslValidate=yes`;

  assert.equal(translateUriOptions(uri).uri, uri);
});

test('in a connection string a new name wins over its old name, in the query or in connectionOptions', () => {
  const inQuery = translateUriOptions(`${URI}?poolSize=5&maxPoolSize=7`);
  const inObject = translateUriOptions(`${URI}?sslValidate=false`, { tlsInsecure: true });

  assert.equal(inQuery.uri, `${URI}?maxPoolSize=7`);
  assert.deepEqual(inQuery.dropped, ['poolSize']);
  assert.equal(inObject.uri, URI);
  for (const { options } of constructed(inObject.uri, { tlsInsecure: true })) {
    assert.equal(options.rejectUnauthorized, false);
  }
});

test('of two spellings of an old name in a query the first wins, as in the driver', () => {
  const result = translateUriOptions(`${URI}?poolSize=5&POOLSIZE=6`);

  assert.equal(result.uri, `${URI}?maxPoolSize=5`);
  assert.deepEqual(result.dropped, ['POOLSIZE']);
});

test('keepAlive=false in a connection string is dropped with the note that it cannot be honoured', () => {
  const result = translateUriOptions(`${URI}?keepAlive=false`);

  assert.equal(result.uri, URI);
  assert.match(result.notes.join('\n'), /cannot be honoured/);
});

// --- Warnings -----------------------------------------------------------------------------------

test('the warning names what was dropped and renamed, and where', () => {
  const warning = legacyOptionsWarning(
    translateConnectionOptions({ useNewUrlParser: true, poolSize: 5 }),
    'connectionOptions',
  );

  assert.match(warning ?? '', /`connectionOptions`/);
  assert.match(warning ?? '', /dropped `useNewUrlParser`, which drivers 6 and 7 no longer have/);
  assert.match(warning ?? '', /renamed `poolSize` to `maxPoolSize`/);
});

test('there is no warning when nothing was translated', () => {
  assert.equal(
    legacyOptionsWarning(translateConnectionOptions({ appName: 'a' }), 'connectionOptions'),
    undefined,
  );
  assert.equal(legacyOptionsWarning(translateUriOptions(URI), 'uri'), undefined);
});

test('no warning and no error holds an option value: passwords and connection strings stay out', () => {
  const secret = 'hunter2-SECRET';
  const uri = `mongodb://alice:${secret}@127.0.0.1:1/?sslPass=${secret}&useNewUrlParser=true`;
  const messages = [
    legacyOptionsWarning(translateUriOptions(uri), 'uri'),
    legacyOptionsWarning(
      translateConnectionOptions({ user: secret, password: secret, sslPass: secret, poolSize: 5 }),
      'connectionOptions',
    ),
    legacyOptionsWarning(
      translateConnectionOptions({ sslPass: secret, passphrase: secret, keepAlive: false }),
      'connectionOptions',
    ),
    errorMessage(() => translateConnectionOptions({ sslKey: secret })),
    errorMessage(() => assertNoConnectMongoNames({ mongoUrl: uri, mongoOptions: { secret } })),
    unknownOptionWarning({ name: 'pasword', nearest: undefined }),
  ];

  for (const message of messages) {
    assert.ok(message !== undefined && message.length > 0, `no message: ${String(message)}`);
    assert.doesNotMatch(message, /hunter2/);
  }
});

function errorMessage(run: () => void): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail('expected a throw');
}
