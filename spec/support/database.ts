import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type CommandStartedEvent, type Db, MongoClient } from 'mongodb';
import { DATABASE_KINDS, type DatabaseKind } from '../../scripts/database.js';

/** The server the run started (see scripts/run-specs.ts), or the one the user named. */
export function testUri(): string {
  const uri = process.env.MONGODB_URI;
  if (uri === undefined || uri === '') {
    throw new Error(
      'MONGODB_URI is not set: run the specs with `npm test` or `npm run test:specs`.',
    );
  }
  return uri;
}

/**
 * Which server the run gave the specs (`SPEC_BACKEND`, set by scripts/run-specs.ts), so that a
 * spec can say where FerretDB's backends behave differently. A spec run by hand with only
 * `MONGODB_URI` set talks to a server nobody described: `external`.
 */
export function specBackend(): DatabaseKind {
  const named = process.env.SPEC_BACKEND;
  return DATABASE_KINDS.find((kind) => kind === named) ?? 'external';
}

/** A database name of this spec file's own, unique per run so that runs never see each other's data. */
export function databaseNameFor(specUrl: string): string {
  const name = basename(fileURLToPath(specUrl), '.spec.ts').replace(/[^a-zA-Z0-9]/g, '_');
  return `cms_${name}_${randomBytes(3).toString('hex')}`.slice(0, 60);
}

export interface SpecDatabase {
  readonly uri: string;
  readonly client: MongoClient;
  readonly db: Db;
  readonly databaseName: string;
  /** Drops the spec file's database and closes the client. */
  dispose(): Promise<void>;
}

/** Connects a client for one spec file, on a database of that file's own. */
export async function openSpecDatabase(specUrl: string): Promise<SpecDatabase> {
  const uri = testUri();
  const databaseName = databaseNameFor(specUrl);
  // Monitored, so that a spec can count the commands an operation sends.
  const client = await new MongoClient(uri, { monitorCommands: true }).connect();
  const db = client.db(databaseName);
  return {
    uri,
    client,
    db,
    databaseName,
    dispose: async () => {
      await db.dropDatabase();
      await client.close();
    },
  };
}

/**
 * Opens the spec file's database in a `before` hook and disposes of it in an `after` hook of the
 * suite it is called in; the returned object reads through to it once open.
 */
export function useSpecDatabase(specUrl: string): SpecDatabase {
  let opened: SpecDatabase | undefined;
  before(async () => {
    opened = await openSpecDatabase(specUrl);
  });
  after(async () => {
    await opened?.dispose();
  });
  const current = (): SpecDatabase => {
    if (opened === undefined)
      throw new Error('The spec database opens in a before() hook; use it inside tests');
    return opened;
  };
  return {
    get uri() {
      return current().uri;
    },
    get client() {
      return current().client;
    },
    get db() {
      return current().db;
    },
    get databaseName() {
      return current().databaseName;
    },
    dispose: () => current().dispose(),
  };
}

/** The commands `client` (opened with `monitorCommands`) started while `run` ran. */
export async function commandsDuring(
  client: MongoClient,
  run: () => Promise<unknown>,
): Promise<CommandStartedEvent[]> {
  const commands: CommandStartedEvent[] = [];
  const listener = (event: CommandStartedEvent) => commands.push(event);
  client.on('commandStarted', listener);
  try {
    await run();
  } finally {
    client.off('commandStarted', listener);
  }
  return commands;
}
