/**
 * The app the end-to-end benchmark loads: Express and express-session with one store, in a
 * process of its own, on a free loopback port. Forked by `bench/e2e.ts`, which sends
 * `{ type: 'stats' }` and `{ type: 'close' }` and reads the answers; every store gets a client
 * with command monitoring, so that commands are counted the same way for all of them.
 *
 * argv: <store> <scenario> <uri> <database> <collection>
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session from 'express-session';
import { type CommandStartedEvent, MongoClient } from 'mongodb';
import { MongoDBStore } from '../lib/index.js';

export const STORES = ['cms6', 'cms6-touch0', 'connect-mongo6', 'cms5', 'memory'] as const;
export type StoreName = (typeof STORES)[number];
export const SCENARIOS = ['read', 'change', 'rolling', 'new-visitors'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** What the app answers to `{ type: 'stats' }`: counts since it started. */
export interface AppStats {
  readonly type: 'stats';
  readonly requests: number;
  /** Commands sent, by name (connection handshakes and monitoring excluded). */
  readonly commands: Record<string, number>;
  /** Sum of the commands' durations as the driver measured them, in milliseconds. */
  readonly databaseMs: number;
  readonly storeErrors: number;
}

/** Commands of the connection itself, not of any store operation. */
const NOT_STORE_COMMANDS = new Set([
  'hello',
  'isMaster',
  'ismaster',
  'ping',
  'endSessions',
  'saslStart',
  'saslContinue',
  'buildInfo',
  'getParameter',
]);

const DAY = 24 * 60 * 60 * 1000;
const require = createRequire(import.meta.url);

/** Version 5 of this package, as its users call it (it ships no types). */
type Version5Factory = (
  module: typeof session,
) => new (
  options: Record<string, unknown>,
) => session.Store & { client: MongoClient };

async function main() {
  const [store, scenario, uri, databaseName, collection] = process.argv.slice(2) as [
    StoreName,
    Scenario,
    string,
    string,
    string,
  ];
  const stats = {
    requests: 0,
    commands: {} as Record<string, number>,
    databaseMs: 0,
    storeErrors: 0,
  };
  const count = (client: MongoClient) => {
    client.on('commandStarted', (event: CommandStartedEvent) => {
      if (NOT_STORE_COMMANDS.has(event.commandName)) return;
      stats.commands[event.commandName] = (stats.commands[event.commandName] ?? 0) + 1;
    });
    const time = (event: { commandName: string; duration: number }) => {
      if (!NOT_STORE_COMMANDS.has(event.commandName)) stats.databaseMs += event.duration;
    };
    client.on('commandSucceeded', time);
    client.on('commandFailed', time);
  };

  let client: MongoClient | undefined;
  let sessionStore: session.Store | undefined;
  const shared = async () => {
    client = await new MongoClient(uri, { monitorCommands: true }).connect();
    count(client);
    return client;
  };
  switch (store) {
    case 'cms6':
    case 'cms6-touch0': {
      const mine = new MongoDBStore({
        client: await shared(),
        databaseName,
        collection,
        ...(store === 'cms6-touch0' ? { touchAfterMs: 0 } : {}),
      });
      mine.on('error', () => {
        stats.storeErrors += 1;
      });
      await mine.repository.whenIndexed();
      sessionStore = mine;
      break;
    }
    case 'connect-mongo6': {
      // FerretDB 1.x has no TTL indexes, and connect-mongo's default 'native' fails there.
      const { default: MongoStore } = require('connect-mongo6') as typeof import('connect-mongo6');
      sessionStore = MongoStore.create({
        client: await shared(),
        dbName: databaseName,
        collectionName: collection,
        autoRemove: 'interval',
      });
      break;
    }
    case 'cms5': {
      // Version 5 creates its client from options; an error listener keeps its failed TTL index
      // (FerretDB 1.x) from being thrown.
      const connectMongoDBSession5 = require('connect-mongodb-session5') as Version5Factory;
      const legacy = new (connectMongoDBSession5(session))({
        uri,
        databaseName,
        collection,
        connectionOptions: { monitorCommands: true },
      });
      legacy.on('error', () => {
        stats.storeErrors += 1;
      });
      await new Promise<void>((resolve) => legacy.on('connected', () => resolve()));
      count(legacy.client);
      client = legacy.client;
      sessionStore = legacy;
      break;
    }
    case 'memory':
      sessionStore = new session.MemoryStore();
      break;
  }

  const app = express();
  app.use((_req, _res, next) => {
    stats.requests += 1;
    next();
  });
  app.use(
    session({
      store: sessionStore as session.Store,
      secret: 'benchmark secret',
      resave: false,
      saveUninitialized: scenario === 'new-visitors',
      rolling: scenario === 'rolling',
      cookie: { maxAge: DAY, httpOnly: true },
    }),
  );
  const data = (req: express.Request) => req.session as unknown as Record<string, unknown>;
  // Signs a visitor in: the session that the read, change and rolling scenarios load.
  app.get('/login', (req, res) => {
    Object.assign(data(req), { user: { id: 42, name: 'Someone', roles: ['reader'] }, visits: 0 });
    res.send('ok');
  });
  app.get('/read', (req, res) => {
    res.send(String((data(req).user as { name?: string } | undefined)?.name ?? 'nobody'));
  });
  app.get('/change', (req, res) => {
    const visits = Number(data(req).visits ?? 0) + 1;
    data(req).visits = visits;
    res.send(String(visits));
  });
  app.get('/new', (_req, res) => {
    res.send('welcome');
  });
  // A store error (a deadline passed, on a busy backend) is a 500 that autocannon counts; the
  // default handler would print each one.
  app.use(
    (
      _error: unknown,
      _req: express.Request,
      res: express.Response,
      _next: express.NextFunction,
    ) => {
      res.status(500).send('store error');
    },
  );
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  process.on('message', async (message: { type: string }) => {
    if (message.type === 'stats') {
      process.send?.({ type: 'stats', ...structuredClone(stats) } satisfies AppStats);
    }
    if (message.type === 'close') {
      server.closeAllConnections();
      server.close();
      // express-session writes after the response; let those end before closing.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await (sessionStore as { close?: () => Promise<void> }).close?.();
      await client?.close();
      process.exit(0);
    }
  });
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${port}` });
}

if (process.send !== undefined) {
  main().catch((error: unknown) => {
    console.error('e2e app failed:', error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
