/**
 * Provides the real MongoDB wire-protocol server that the specs, the example app and the
 * benchmarks run against. One function, three sources, tried in this order:
 *
 * 1. `MONGODB_URI` is set: use it and start nothing.
 * 2. FerretDB, run with its SQLite backend in a fresh temporary directory on a free loopback
 *    port: the binary built earlier into `.cache/ferretdb`, or, where there is none yet and Go
 *    is installed, built there now (once).
 * 3. Otherwise: `mongodb-memory-server-core`, which downloads a real `mongod` where the
 *    internet is reachable.
 *
 * With `{ backend: 'postgresql' }`, step 2 runs FerretDB with its PostgreSQL backend instead, on
 * a throwaway PostgreSQL cluster of its own (see `startPostgreSQL`), and there is no step 3: a
 * run that asked for PostgreSQL must not quietly get another server.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';

const run = promisify(execFile);

/** The FerretDB release the project tests against. */
export const FERRETDB_VERSION = 'v1.24.2';
const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE_DIR = join(PROJECT_ROOT, '.cache', 'ferretdb');
const READY_TIMEOUT_MS = 30_000;

/** The FerretDB storage backends `startDatabase` can start. */
export type Backend = 'sqlite' | 'postgresql';

/**
 * What a `Database` really is: a FerretDB backend, `mongod` (the fallback when FerretDB cannot
 * be built) or `external` (the server `MONGODB_URI` names, which nobody here started).
 */
export type DatabaseKind = Backend | 'mongod' | 'external';
export const DATABASE_KINDS: readonly DatabaseKind[] = [
  'sqlite',
  'postgresql',
  'mongod',
  'external',
];

export interface Database {
  /** A MongoDB connection string for the server. */
  readonly uri: string;
  /** Which server this is, for the log line a run prints first. */
  readonly description: string;
  /** What kind of server this is, so that a run can tell its specs. */
  readonly kind: DatabaseKind;
  /** Stops the server and removes its data; a no-op for a server given by `MONGODB_URI`. */
  stop(): Promise<void>;
}

export type Log = (line: string) => void;

export interface StartOptions {
  /** Which FerretDB backend to start when `MONGODB_URI` is not set. @default 'sqlite' */
  readonly backend?: Backend;
  /**
   * The command the server is for, as its messages name it: `npm start`, `npm test`.
   * @default the npm script running (`npm run bench`), else the script file
   */
  readonly command?: string;
}

/** Starts (or finds) the server; see the module comment for the order of sources. */
export async function startDatabase(
  log: Log = (line) => console.error(line),
  options: StartOptions = {},
): Promise<Database> {
  const given = process.env.MONGODB_URI;
  if (given !== undefined && given !== '') {
    return {
      uri: given,
      description: `MONGODB_URI (${redact(given)})`,
      kind: 'external',
      stop: async () => {},
    };
  }
  const command = options.command ?? runningCommand();
  return options.backend === 'postgresql'
    ? startOnPostgreSQL(log, command)
    : startOnSQLite(log, command);
}

/** What the process runs, for messages: the npm script (`npm start`), else the script file. */
function runningCommand(): string {
  const script = process.env.npm_lifecycle_event;
  if (script === 'start' || script === 'test') return `npm ${script}`;
  if (script !== undefined && script !== '') return `npm run ${script}`;
  return basename(process.argv[1] ?? 'this program');
}

async function startOnSQLite(log: Log, command: string): Promise<Database> {
  const failures: string[] = [];
  try {
    return await startSQLiteFerretDB(await findFerretDB(log));
  } catch (error) {
    failures.push(`FerretDB: ${describe(error)}`);
    log(`FerretDB could not be used (${describe(error)}); trying mongodb-memory-server-core`);
  }

  try {
    return await startMemoryServer();
  } catch (error) {
    failures.push(`mongodb-memory-server-core: ${describe(error)}`);
  }

  throw new Error(
    [
      `No MongoDB wire-protocol server is available for ${command}.`,
      ...failures.map((failure) => `  - ${failure}`),
      `Set MONGODB_URI to a MongoDB you run (MONGODB_URI=mongodb://127.0.0.1:27017/ ${command}),`,
      'or install Go 1.24 or newer so that FerretDB can be built,',
      'or allow mongodb-memory-server-core to download mongod.',
    ].join('\n'),
  );
}

async function startOnPostgreSQL(log: Log, command: string): Promise<Database> {
  const binary = await findFerretDB(log).catch((error: unknown) => {
    throw new Error(
      `${command}: FerretDB's PostgreSQL backend needs FerretDB ${FERRETDB_VERSION} ` +
        `(${describe(error)}); there is no other server for this backend.`,
    );
  });
  const server = await findPostgreSQL(log);
  return startPostgreSQLFerretDB(binary, server);
}

/**
 * The FerretDB binary: the one built earlier into `.cache/ferretdb`, which needs no Go, or one
 * built now where Go is installed.
 */
async function findFerretDB(log: Log): Promise<string> {
  if (existsSync(ferretDBBinary())) return ferretDBBinary();
  if (!(await hasGo())) {
    throw new Error(
      `no binary in .cache/ferretdb/${FERRETDB_VERSION}, and no Go toolchain on PATH to build one`,
    );
  }
  return ensureFerretDB(log);
}

function ferretDBBinary(): string {
  return join(CACHE_DIR, FERRETDB_VERSION, 'ferretdb');
}

/** Whether `go` runs (FerretDB is built with it). */
export async function hasGo(): Promise<boolean> {
  try {
    await run('go', ['version']);
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds FerretDB once and returns the binary's path. `go install module@version` is not used:
 * it asks the proxy for the module's version list (which a restricted proxy may refuse), and
 * the binary it builds panics at start because the module archive lacks
 * `build/version/version.txt`. So the module is downloaded, copied, given that file, and built.
 */
export async function ensureFerretDB(log: Log): Promise<string> {
  const binary = ferretDBBinary();
  if (existsSync(binary)) return binary;

  log(`Building FerretDB ${FERRETDB_VERSION} into .cache/ferretdb (once; takes a few minutes)`);
  // Should the process exit meanwhile (npm start stopped by a signal), the build goes with it.
  let step: ChildProcess | undefined;
  let work: string | undefined;
  const onExit = () => {
    step?.kill('SIGKILL');
    if (work === undefined) return;
    spawnSync('chmod', ['-R', 'u+w', work]);
    rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  };
  process.once('exit', onExit);
  const go = (args: readonly string[], maxBuffer: number) => {
    const running = run('go', args, { maxBuffer });
    step = running.child;
    return running;
  };
  try {
    const download = ['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`];
    const { stdout } = await go(download, 1 << 20);
    const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
    if (moduleDir === undefined) throw new Error(`go mod download printed no Dir: ${stdout}`);

    // A per-process work directory keeps two concurrent first runs from tripping over each other.
    await mkdir(CACHE_DIR, { recursive: true });
    work = await mkdtemp(join(CACHE_DIR, 'build-'));
    const source = join(work, 'src');
    await cp(moduleDir, source, { recursive: true });
    const versionDir = join(source, 'build', 'version');
    await chmod(versionDir, 0o755);
    await writeFile(join(versionDir, 'version.txt'), `${FERRETDB_VERSION}\n`);
    const built = join(work, 'ferretdb');
    await go(['build', '-C', source, '-o', built, './cmd/ferretdb'], 16 << 20);
    await mkdir(join(CACHE_DIR, FERRETDB_VERSION), { recursive: true });
    await rename(built, binary);
  } finally {
    process.removeListener('exit', onExit);
    if (work !== undefined) {
      await makeWritable(work);
      await rm(work, { recursive: true, force: true });
    }
  }
  return binary;
}

/** The module cache is read-only and `cp` keeps modes, so the copy must be opened up to delete it. */
async function makeWritable(dir: string): Promise<void> {
  await run('chmod', ['-R', 'u+w', dir]).catch(() => undefined);
}

/**
 * A temporary directory and the servers that use it, which go together: `dispose()` stops the
 * servers (the last started first, so FerretDB goes before the PostgreSQL it talks to) and
 * removes the directory; should the process exit without it, an exit hook kills and removes.
 */
class Scratch {
  readonly #servers: { readonly child: ChildProcess; readonly stopSignal: NodeJS.Signals }[] = [];
  #disposing: Promise<void> | undefined;
  readonly #onExit = () => {
    for (const { child } of this.#servers) child.kill('SIGKILL');
    // A killed server's helpers may still be writing for a moment; retries ride that out.
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
  };

  private constructor(readonly dir: string) {
    process.once('exit', this.#onExit);
  }

  static async create(prefix: string): Promise<Scratch> {
    return new Scratch(await mkdtemp(join(tmpdir(), prefix)));
  }

  /** Makes `child` part of this scratch space, to be stopped with `stopSignal` by dispose(). */
  own(child: ChildProcess, stopSignal: NodeJS.Signals = 'SIGTERM'): void {
    this.#servers.push({ child, stopSignal });
  }

  dispose(): Promise<void> {
    this.#disposing ??= (async () => {
      process.removeListener('exit', this.#onExit);
      for (const { child, stopSignal } of [...this.#servers].reverse()) {
        await terminate(child, stopSignal);
      }
      await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return this.#disposing;
  }

  /** Runs `start` and returns its result; on failure, disposes of everything first. */
  async startOrDispose<T>(start: () => Promise<T>): Promise<T> {
    try {
      return await start();
    } catch (error) {
      await this.dispose();
      throw error;
    }
  }
}

async function startSQLiteFerretDB(binary: string): Promise<Database> {
  const scratch = await Scratch.create('cms-ferretdb-');
  return scratch.startOrDispose(() =>
    serveFerretDB(scratch, binary, 'sqlite', 'SQLite backend', sqliteHandler(scratch.dir)),
  );
}

async function startPostgreSQLFerretDB(
  binary: string,
  server: PostgreSQLServer,
): Promise<Database> {
  const scratch = await Scratch.create('cms-postgresql-');
  return scratch.startOrDispose(async () => {
    const postgresqlUrl = await startPostgreSQL(scratch, server);
    const handler = ['--handler=postgresql', `--postgresql-url=${postgresqlUrl}`];
    const label = `PostgreSQL ${server.version} backend`;
    return serveFerretDB(scratch, binary, 'postgresql', label, handler);
  });
}

/** Starts FerretDB with `handler`'s flags, its state in `scratch`, and waits until it answers. */
async function serveFerretDB(
  scratch: Scratch,
  binary: string,
  kind: Backend,
  label: string,
  handler: readonly string[],
): Promise<Database> {
  const port = await freePort();
  const { child, output } = spawnFerretDB(binary, scratch.dir, port, handler);
  scratch.own(child);
  const uri = `mongodb://127.0.0.1:${port}/`;
  await waitForPing(uri, child, output);
  return {
    uri,
    description: `FerretDB ${FERRETDB_VERSION} (${label}) at ${uri}`,
    kind,
    stop: () => scratch.dispose(),
  };
}

/** A FerretDB process and the last lines of its standard error, for the message when it fails. */
export interface FerretDBChild {
  readonly child: ChildProcess;
  readonly output: string[];
}

/** FerretDB's flags for its SQLite backend with its databases in `dataDir`. */
function sqliteHandler(dataDir: string): string[] {
  return ['--handler=sqlite', `--sqlite-url=file:${dataDir}/`];
}

/**
 * Starts FerretDB on 127.0.0.1:`port` with the backend `handler` names (SQLite with its data in
 * `dataDir` by default), keeping its state in `dataDir`; the same directory and port give the
 * same server back after it has stopped.
 */
export function spawnFerretDB(
  binary: string,
  dataDir: string,
  port: number,
  handler: readonly string[] = sqliteHandler(dataDir),
): FerretDBChild {
  return spawnServer(binary, [
    ...handler,
    `--state-dir=${dataDir}`,
    `--listen-addr=127.0.0.1:${port}`,
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=error',
  ]);
}

/** Spawns a server process, keeping the last lines of its standard error. */
function spawnServer(
  command: string,
  args: readonly string[],
  options: { readonly uid?: number; readonly gid?: number; readonly cwd?: string } = {},
): FerretDBChild {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
  const output: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output.push(chunk);
    if (output.length > 50) output.shift();
  });
  // Without a listener, a failed spawn (a binary removed meanwhile) would throw from the emitter.
  child.once('error', (error) => output.push(`spawn failed: ${error.message}`));
  return { child, output };
}

/** An installed PostgreSQL: its programs' directory, its version, and whom to run it as. */
interface PostgreSQLServer {
  readonly binDir: string;
  readonly version: string;
  /** The user that runs it when we are root (PostgreSQL refuses to run as root); else ourselves. */
  readonly user: { readonly uid: number; readonly gid: number } | undefined;
}

const POSTGRESQL_ROOT = '/usr/lib/postgresql';

/**
 * Finds PostgreSQL's server programs (Debian's layout, /usr/lib/postgresql/<major>/bin, newest
 * first). Missing, they are installed with apt-get when we are root, as on a fresh CI machine;
 * otherwise the error says what to install.
 */
async function findPostgreSQL(log: Log): Promise<PostgreSQLServer> {
  let binDir = await postgreSQLBinDir();
  if (binDir === undefined && isRoot() && (await runs('apt-get', ['--version']))) {
    log('PostgreSQL is not installed; installing it with apt-get (once)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['update'], { env, maxBuffer: 16 << 20 });
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], {
      env,
      maxBuffer: 16 << 20,
    });
    binDir = await postgreSQLBinDir();
  }
  if (binDir === undefined) {
    throw new Error(
      `PostgreSQL's server programs (initdb, postgres) are not in ${POSTGRESQL_ROOT}/*/bin. ` +
        'Install PostgreSQL (Debian/Ubuntu: apt-get install postgresql); ' +
        'the specs run on SQLite alone with SPEC_BACKENDS=sqlite.',
    );
  }
  const { stdout } = await run(join(binDir, 'postgres'), ['--version']);
  const version = /\d+(\.\d+)*/.exec(stdout)?.[0] ?? stdout.trim();
  return { binDir, version, user: isRoot() ? await postgresUser(log) : undefined };
}

async function postgreSQLBinDir(): Promise<string | undefined> {
  const majors = await readdir(POSTGRESQL_ROOT).catch(() => [] as string[]);
  return majors
    .filter((major) => /^\d+$/.test(major))
    .sort((a, b) => Number(b) - Number(a))
    .map((major) => join(POSTGRESQL_ROOT, major, 'bin'))
    .find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')));
}

/** The `postgres` system user's ids, creating the user first where it does not exist. */
async function postgresUser(log: Log): Promise<{ uid: number; gid: number }> {
  if (!(await runs('id', ['-u', 'postgres']))) {
    log('Creating the system user postgres to run the test PostgreSQL');
    await run('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
  }
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/**
 * Creates and starts a PostgreSQL cluster in `scratch` on a free loopback port, with its
 * socket there too, so that it touches nothing of the machine's. Trust authentication is safe
 * because initdb's `-A trust` covers only the local socket and loopback addresses and the server
 * listens on 127.0.0.1 alone. Durability is switched off: the data dies with the run anyway.
 * Returns the URL FerretDB connects with.
 */
async function startPostgreSQL(scratch: Scratch, server: PostgreSQLServer): Promise<string> {
  const as = { ...server.user, cwd: scratch.dir };
  if (server.user !== undefined) await chown(scratch.dir, server.user.uid, server.user.gid);
  const dataDir = join(scratch.dir, 'data');
  await run(
    join(server.binDir, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { ...as, maxBuffer: 1 << 20 },
  );
  const port = await freePort();
  const { child, output } = spawnServer(
    join(server.binDir, 'postgres'),
    [
      ['-D', dataDir],
      ['-p', String(port)],
      ['-c', 'listen_addresses=127.0.0.1'],
      ['-c', `unix_socket_directories=${scratch.dir}`],
      ['-c', 'fsync=off'],
      ['-c', 'synchronous_commit=off'],
      ['-c', 'full_page_writes=off'],
    ].flat(),
    as,
  );
  // SIGINT is PostgreSQL's fast shutdown: it does not wait for clients to disconnect.
  scratch.own(child, 'SIGINT');
  const isReady = join(server.binDir, 'pg_isready');
  const probe = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres'];
  await waitUntil('PostgreSQL', child, output, READY_TIMEOUT_MS, () => run(isReady, probe));
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Whether `command args` runs and exits with 0. */
async function runs(command: string, args: readonly string[]): Promise<boolean> {
  try {
    await run(command, args);
    return true;
  } catch {
    return false;
  }
}

async function startMemoryServer(): Promise<Database> {
  const { MongoMemoryServer } = await import('mongodb-memory-server-core');
  const server = await MongoMemoryServer.create({ instance: { ip: '127.0.0.1' } });
  const uri = server.getUri();
  return {
    uri,
    description: `mongod from mongodb-memory-server-core at ${uri}`,
    kind: 'mongod',
    stop: async () => {
      await server.stop();
    },
  };
}

/** A loopback port nobody listens on just now (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port of a probe socket'));
      });
    });
  });
}

/** Resolves once the server at `uri` answers ping; rejects if `child` exits first or after `timeoutMs`. */
export function waitForPing(
  uri: string,
  child: ChildProcess,
  output: readonly string[],
  timeoutMs = READY_TIMEOUT_MS,
): Promise<void> {
  return waitUntil('FerretDB', child, output, timeoutMs, async () => {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 250, connectTimeoutMS: 250 });
    try {
      await client.db('admin').command({ ping: 1 });
    } finally {
      await client.close();
    }
  });
}

/**
 * Retries `probe` every 100 ms until it resolves; rejects if `child` (the server `name`, whose
 * standard error `output` holds) exits first, or after `timeoutMs`.
 */
async function waitUntil(
  name: string,
  child: ChildProcess,
  output: readonly string[],
  timeoutMs: number,
  probe: () => Promise<unknown>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${name} exited early (${child.exitCode ?? child.signalCode}): ${output.join('').trim()}`,
      );
    }
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${name} did not answer within ${timeoutMs} ms: ${describe(lastError)}`);
}

/** Stops `child` with `signal` (SIGKILL after 5 s) and resolves once it has exited. */
export function terminate(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}

function redact(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//<credentials>@');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
