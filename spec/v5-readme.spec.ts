/**
 * Version 5's four README examples, and version 2's `connectionOptions` example that thousands of
 * apps copied, run as their users run them: CommonJS source loading the built package by
 * `require('connect-mongodb-session')`, in a child `node` whose sandbox installs driver 7 or
 * driver 6 as `mongodb` (see support/sandbox.ts).
 *
 * The examples are verbatim but for what cannot run here:
 * - connection strings point at the test server, on the spec file's database;
 * - `app.listen(3000)` listens on port 0 of 127.0.0.1;
 * - `bad.host:27000` is a closed port of 127.0.0.1 (specs never resolve a real DNS name);
 * - the Cosmos DB example keeps its client options (`retrywrites`, `maxIdleTimeMS`, `appName`)
 *   but not `ssl`, `replicaSet=globaldb` or the credentials, which only Cosmos DB accepts; its
 *   `appName`'s `@` is percent-encoded (the same value), since without credentials in front the
 *   driver would read a bare `@` as the end of a password; and `databaseName: 'myDb'` names the
 *   spec's database, so that a run never writes to a database it did not create.
 *
 * The harness sees what the examples leave as comments: it wraps the store class to record the
 * constructor callback, listens for `error` and `connected` beside the example's listener, and
 * gives the examples a `console` that writes to stderr.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { TTL_FALLBACK_WARNING_CODE } from '../lib/expiry/expiry-tasks.js';
import { LEGACY_OPTION_WARNING_CODE } from '../lib/options/legacy-driver-options.js';
import { useSpecDatabase } from './support/database.js';
import { ROOT, runInSandbox } from './support/sandbox.js';
import { closedPort } from './support/tcp-proxy.js';

const database = useSpecDatabase(import.meta.url);

/** How long the cannot-connect example may take to report (the store's server selection waits 3 s). */
const REPORT_WITHIN_MS = 10_000;

before(() => {
  if (!existsSync(join(ROOT, 'dist', 'index.cjs'))) {
    throw new Error('dist/ is missing: run `npm run build` before this spec (`npm test` does).');
  }
});

/** The test server's scheme, credentials and hosts, without path or query. */
function serverBase(): string {
  return database.uri.replace(/^(mongodb(?:\+srv)?:\/\/[^/?]+).*$/, '$1');
}

type Kind = 'app' | 'store' | 'cannot-connect';

interface Example {
  readonly title: string;
  readonly kind: Kind;
  readonly source: () => Promise<string>;
}

const EXAMPLES: Record<string, Example> = {
  express: {
    title: "version 5's Express example",
    kind: 'app',
    source: async () => `
var express = require('express');
var session = require('express-session');
var MongoDBStore = require('connect-mongodb-session')(session);

var app = express();
var store = new MongoDBStore({
  uri: '${serverBase()}/${database.databaseName}',
  collection: 'mySessions'
});

// Catch errors
store.on('error', function(error) {
  console.log(error);
});

app.use(require('express-session')({
  secret: 'This is a secret',
  cookie: {
    maxAge: 1000 * 60 * 60 * 24 * 7 // 1 week
  },
  store: store,
  // Boilerplate options, see:
  // * https://www.npmjs.com/package/express-session#resave
  // * https://www.npmjs.com/package/express-session#saveuninitialized
  resave: true,
  saveUninitialized: true
}));

app.get('/', function(req, res) {
  res.send('Hello ' + JSON.stringify(req.session));
});

server = app.listen(0, '127.0.0.1');
`,
  },
  cannotConnect: {
    title: "version 5's cannot-connect example",
    kind: 'cannot-connect',
    source: async () => `
var express = require('express');
var session = require('express-session');
var MongoDBStore = require('connect-mongodb-session')(session);

var app = express();
var store = new MongoDBStore(
  {
    uri: 'mongodb://127.0.0.1:${await closedPort()}/connect_mongodb_session_test?connectTimeoutMS=10',
    databaseName: 'connect_mongodb_session_test',
    collection: 'mySessions'
  },
  function(error) {
    // Should have gotten an error
  });

store.on('error', function(error) {
  // Also get an error here
});

app.use(session({
  secret: 'This is a secret',
  cookie: {
    maxAge: 1000 * 60 * 60 * 24 * 7 // 1 week
  },
  store: store,
  // Boilerplate options, see:
  // * https://www.npmjs.com/package/express-session#resave
  // * https://www.npmjs.com/package/express-session#saveuninitialized
  resave: true,
  saveUninitialized: true
}));

app.get('/', function(req, res) {
  res.send('Hello ' + JSON.stringify(req.session));
});

server = app.listen(0, '127.0.0.1');
`,
  },
  otherOptions: {
    title: "version 5's other-options example",
    kind: 'store',
    source: async () => `
var express = require('express');
var session = require('express-session');
var MongoDBStore = require('connect-mongodb-session')(session);

var store = new MongoDBStore({
  uri: '${serverBase()}/${database.databaseName}',
  collection: 'mySessions',

  // By default, sessions expire after 2 weeks. The \`expires\` option lets
  // you overwrite that by setting the expiration in milliseconds
  expires: 1000 * 60 * 60 * 24 * 30, // 30 days in milliseconds

  // Lets you set options passed to \`MongoClient.connect()\`. Useful for
  // configuring connectivity or working around deprecation warnings.
  connectionOptions: {
    serverSelectionTimeoutMS: 10000
  }
});
`,
  },
  cosmos: {
    title: "version 5's Cosmos DB example",
    kind: 'store',
    source: async () => `
var express = require('express');
var session = require('express-session');
var MongoDBStore = require('connect-mongodb-session')(session);

var store = new MongoDBStore({
  uri: '${serverBase()}/?retrywrites=false&maxIdleTimeMS=120000&appName=%40cosmosdb-name%40', 
  databaseName: '${database.databaseName}',
  collection: 'mySessions',

  // Change the expires key name
  expiresKey: \`_ts\`,
  // This controls the life of the document - set to same value as expires / 1000
  expiresAfterSeconds: 60 * 60 * 24 * 14 
});
`,
  },
  version2: {
    title: "version 2's example with useNewUrlParser and useUnifiedTopology",
    kind: 'store',
    source: async () => `
var express = require('express');
var session = require('express-session');
var MongoDBStore = require('connect-mongodb-session')(session);

var store = new MongoDBStore({
  uri: '${serverBase()}/${database.databaseName}',
  collection: 'mySessions',

  // By default, sessions expire after 2 weeks. The \`expires\` option lets
  // you overwrite that by setting the expiration in milliseconds
  expires: 1000 * 60 * 60 * 24 * 30, // 30 days in milliseconds

  // Lets you set options passed to \`MongoClient.connect()\`. Useful for
  // configuring connectivity or working around deprecation warnings.
  connectionOptions: {
    useNewUrlParser: true,
    useUnifiedTopology: true,
    serverSelectionTimeoutMS: 10000
  }
});
`,
  },
};

interface Response {
  readonly status: number;
  readonly setCookie: string | null;
  readonly body: string;
}

interface Report {
  readonly driverVersion: string;
  /** The example threw before it returned (its store or its app could not be built). */
  readonly constructError: { readonly name: string; readonly message: string } | null;
  readonly responses: Response[];
  /** The store holds the session of the browser's cookie (examples with an app). */
  readonly sessionFound: boolean;
  /** `views` of the session set and read back through the store (store-only examples). */
  readonly storedViews: number | null;
  readonly connected: boolean;
  /** Error names passed to the constructor callback, and when, in ms after construction. */
  readonly callbacks: Array<{ readonly error: string | null; readonly afterMs: number }>;
  readonly errorEvents: Array<{ readonly error: string; readonly afterMs: number }>;
  readonly requestMs: number | null;
  readonly warnings: Array<{ readonly code: string | null; readonly message: string }>;
  /** Unhandled rejections and uncaught exceptions: a crash, had the harness not caught it. */
  readonly crashes: string[];
}

const SCRIPT = `
import { Console } from 'node:console';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { request } from 'node:http';
import { compileFunction } from 'node:vm';

const require = createRequire(process.cwd() + '/');
const { EXAMPLE_SOURCE: source, EXAMPLE_KIND: kind, WITHIN_MS, SESSION_ID: sid } = process.env;
const report = {
  driverVersion: require('mongodb/package.json').version,
  constructError: null, responses: [], sessionFound: false, storedViews: null, connected: false,
  callbacks: [], errorEvents: [], requestMs: null, warnings: [], crashes: [],
};
process.on('warning', (w) => report.warnings.push({ code: w.code ?? null, message: w.message }));
process.on('unhandledRejection', (e) => report.crashes.push('unhandledRejection: ' + (e && e.name)));
process.on('uncaughtException', (e) => report.crashes.push('uncaughtException: ' + (e && e.name)));

let constructedAt = 0;
const factory = require('connect-mongodb-session');
// The factory as the examples call it, its store class wrapped to record the constructor callback.
function exampleRequire(name) {
  if (name !== 'connect-mongodb-session') return require(name);
  return (session) => new Proxy(factory(session), {
    construct(target, args, newTarget) {
      const at = args.findIndex((arg) => typeof arg === 'function');
      if (at !== -1) {
        const callback = args[at];
        args[at] = function (error) {
          report.callbacks.push({ error: error ? error.name : null, afterMs: Date.now() - constructedAt });
          return callback.apply(this, arguments);
        };
      }
      constructedAt = Date.now();
      return Reflect.construct(target, args, newTarget);
    },
  });
}

function get(port, cookie) {
  return new Promise((resolve, reject) => {
    const headers = cookie ? { cookie } : {};
    const outgoing = request({ host: '127.0.0.1', port, path: '/', headers, agent: false, timeout: 15000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, setCookie: (res.headers['set-cookie'] || [])[0] || null, body }));
    });
    outgoing.once('timeout', () => outgoing.destroy(new Error('request timed out')));
    outgoing.once('error', reject);
    outgoing.end();
  });
}

const callbackFor = (call) => new Promise((resolve, reject) => call((error, value) => (error ? reject(error) : resolve(value))));
const until = async (condition) => {
  const deadline = Date.now() + Number(WITHIN_MS);
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
};

let store;
let server;
try {
  const example = compileFunction(source + '\\nreturn { store: store, server: server };', ['require', 'console', 'server']);
  ({ store, server } = example(exampleRequire, new Console(process.stderr), undefined));
} catch (error) {
  report.constructError = { name: error.name, message: error.message };
}

if (store) {
  store.on('error', (error) => report.errorEvents.push({ error: error.name, afterMs: Date.now() - constructedAt }));
  store.on('connected', () => { report.connected = true; });
  try {
    if (kind === 'app') {
      if (!server.listening) await once(server, 'listening');
      const { port } = server.address();
      const first = await get(port);
      const cookie = first.setCookie && first.setCookie.split(';')[0];
      const second = await get(port, cookie);
      report.responses.push(first, second);
      const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
      const sid = value.slice(2, value.lastIndexOf('.'));
      const found = await callbackFor((done) => store.get(sid, done));
      report.sessionFound = found !== null && found !== undefined;
    } else if (kind === 'store') {
      const expires = new Date(Date.now() + 3600000);
      await callbackFor((done) => store.set(sid, { cookie: { expires }, views: 3 }, done));
      const found = await callbackFor((done) => store.get(sid, done));
      report.storedViews = found ? found.views : null;
      await callbackFor((done) => store.destroy(sid, done));
    } else {
      await until(() => report.callbacks.length > 0 && report.errorEvents.length > 0);
      if (!server.listening) await once(server, 'listening');
      const { port } = server.address();
      const started = Date.now();
      // The first request has no cookie, so nothing is read; the second makes the store read.
      const first = await get(port);
      report.responses.push(first, await get(port, first.setCookie && first.setCookie.split(';')[0]));
      report.requestMs = Date.now() - started;
    }
  } catch (error) {
    report.crashes.push('harness: ' + error.name + ': ' + error.message);
  }
}
if (server) {
  server.closeAllConnections();
  server.close();
}
if (store) await store.close().catch(() => undefined);
// Warnings are emitted on the next tick.
await new Promise((resolve) => setImmediate(resolve));
process.stdout.write(JSON.stringify(report));
process.exit(0);
`;

const DRIVERS = { '7': 'mongodb', '6': 'mongodb6' } as const;
type Driver = keyof typeof DRIVERS;

const runs = new Map<string, Promise<Report>>();

/**
 * The report of one example on one driver. The first call starts every run, in parallel (from a
 * test, once the spec database is open).
 */
function reportOf(name: string, driver: Driver): Promise<Report> {
  if (runs.size === 0) {
    for (const other of Object.keys(EXAMPLES)) {
      for (const otherDriver of Object.keys(DRIVERS) as Driver[]) startRun(other, otherDriver);
    }
  }
  return runs.get(`${name}@${driver}`) ?? startRun(name, driver);
}

function startRun(name: string, driver: Driver): Promise<Report> {
  const key = `${name}@${driver}`;
  let run = runs.get(key);
  if (run === undefined) {
    run = (async () => {
      const example = EXAMPLES[name] as Example;
      return runInSandbox<Report>(
        SCRIPT,
        {
          mongodb: DRIVERS[driver],
          'p-queue': 'p-queue',
          express: 'express',
          'express-session': 'express-session',
        },
        {
          EXAMPLE_SOURCE: await example.source(),
          EXAMPLE_KIND: example.kind,
          // Runs share the examples' collection: one session id each.
          SESSION_ID: `readme-${name}-driver-${driver}`,
          WITHIN_MS: String(REPORT_WITHIN_MS),
        },
      );
    })();
    // Awaited by the tests; handled here so that a failure before a test asks is not unhandled.
    run.catch(() => undefined);
    runs.set(key, run);
  }
  return run;
}

/** Fails with what the example threw, which is what a user would see. */
function assertConstructed(report: Report): void {
  assert.equal(
    report.constructError,
    null,
    `the example threw ${report.constructError?.name}: ${report.constructError?.message}`,
  );
}

/**
 * Warnings of the store and of the driver (Node's own, such as ExperimentalWarning, aside). The
 * one notice that a server has no TTL indexes (FerretDB 1.x, the test server) is news for the
 * operator, not a flaw of the example: it is left out, and allowed at most once.
 */
function storeAndDriverWarnings(report: Report): Report['warnings'] {
  const noTtl = report.warnings.filter(({ code }) => code === TTL_FALLBACK_WARNING_CODE);
  assert.ok(noTtl.length <= 1, `the missing TTL indexes were reported ${noTtl.length} times`);
  return report.warnings.filter(
    ({ code, message }) =>
      (code?.startsWith('SESSION_STORE') === true && code !== TTL_FALLBACK_WARNING_CODE) ||
      code === 'MONGODB DRIVER' ||
      /deprecated option/.test(message),
  );
}

for (const driver of Object.keys(DRIVERS) as Driver[]) {
  test(`the sandbox of driver ${driver} runs driver ${driver}`, async () => {
    assert.match((await reportOf('express', driver)).driverVersion, new RegExp(`^${driver}\\.`));
  });

  test(`on driver ${driver}, ${EXAMPLES.express?.title} sets a session cookie and finds the session with it on the next request`, async () => {
    const report = await reportOf('express', driver);

    assertConstructed(report);
    assert.deepEqual(report.crashes, []);
    const [first, second] = report.responses;
    assert.equal(first?.status, 200);
    assert.match(first?.setCookie ?? '', /^connect\.sid=s%3A/);
    assert.equal(second?.status, 200);
    // express-session sets a new cookie when it finds no session for the cookie sent.
    assert.equal(second.setCookie, null, 'a second cookie means the session was not found');
    assert.ok(second.body.startsWith('Hello {"cookie":'), second.body);
    assert.equal(report.sessionFound, true, 'the store has no session for the cookie');
    assert.deepEqual(report.errorEvents, []);
    assert.deepEqual(storeAndDriverWarnings(report), []);
  });

  test(`on driver ${driver}, ${EXAMPLES.cannotConnect?.title} reports to the callback and the error event promptly, and answers requests, without a crash`, async (t) => {
    const report = await reportOf('cannotConnect', driver);
    t.diagnostic(
      `callback after ${report.callbacks[0]?.afterMs} ms, error event after ${report.errorEvents[0]?.afterMs} ms, two requests in ${report.requestMs} ms`,
    );

    assertConstructed(report);
    assert.deepEqual(report.crashes, []);
    assert.equal(report.callbacks.length, 1);
    assert.equal(report.callbacks[0]?.error, 'ConnectionError');
    assert.ok((report.callbacks[0]?.afterMs ?? Infinity) < REPORT_WITHIN_MS, 'callback in time');
    assert.equal(report.errorEvents.length, 1);
    assert.equal(report.errorEvents[0]?.error, 'ConnectionError');
    assert.ok((report.errorEvents[0]?.afterMs ?? Infinity) < REPORT_WITHIN_MS, 'event in time');
    const [first, second] = report.responses;
    assert.equal(typeof first?.status, 'number');
    assert.match(first?.setCookie ?? '', /^connect\.sid=/);
    assert.equal(second?.status, 500, 'reading the session fails: express answers 500');
    assert.ok((report.requestMs ?? Infinity) < 2 * REPORT_WITHIN_MS, 'both requests answered');
  });

  for (const name of ['otherOptions', 'cosmos', 'version2']) {
    const example = EXAMPLES[name] as Example;
    test(`on driver ${driver}, ${example.title} builds a store that connects, sets and gets a session`, async () => {
      const report = await reportOf(name, driver);

      assertConstructed(report);
      assert.deepEqual(report.crashes, []);
      assert.equal(report.storedViews, 3);
      assert.equal(report.connected, true);
      assert.deepEqual(report.errorEvents, []);
    });
  }

  test(`on driver ${driver}, version 5's examples raise no warning of the store or the driver`, async () => {
    for (const name of ['express', 'otherOptions', 'cosmos']) {
      assert.deepEqual(storeAndDriverWarnings(await reportOf(name, driver)), [], name);
    }
  });

  test(`on driver ${driver}, version 2's example warns once that useNewUrlParser and useUnifiedTopology were dropped, and the driver does not warn`, async () => {
    const report = await reportOf('version2', driver);

    const warnings = storeAndDriverWarnings(report);
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0]?.code, LEGACY_OPTION_WARNING_CODE);
    assert.match(warnings[0]?.message ?? '', /`useNewUrlParser`, `useUnifiedTopology`/);
  });
}
