/**
 * Provides the real MongoDB wire-protocol server that the specs, the example app and the
 * benchmarks run against. One function, three sources, tried in this order:
 *
 * 1. `MONGODB_URI` is set: use it and start nothing.
 * 2. Go is installed: FerretDB, built once into `.cache/ferretdb`, run with its SQLite backend
 *    in a fresh temporary directory on a free loopback port.
 * 3. Otherwise: `mongodb-memory-server-core`, which downloads a real `mongod` where the
 *    internet is reachable.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

export interface Database {
  /** A MongoDB connection string for the server. */
  readonly uri: string;
  /** Which server this is, for the log line a run prints first. */
  readonly description: string;
  /** Stops the server and removes its data; a no-op for a server given by `MONGODB_URI`. */
  stop(): Promise<void>;
}

export type Log = (line: string) => void;

/** Starts (or finds) the server; see the module comment for the order of sources. */
export async function startDatabase(log: Log = (line) => console.error(line)): Promise<Database> {
  const given = process.env.MONGODB_URI;
  if (given !== undefined && given !== '') {
    return { uri: given, description: `MONGODB_URI (${redact(given)})`, stop: async () => {} };
  }

  const failures: string[] = [];
  if (await hasGo()) {
    try {
      return await startFerretDB(await ensureFerretDB(log));
    } catch (error) {
      failures.push(`FerretDB: ${describe(error)}`);
      log(`FerretDB could not be used (${describe(error)}); trying mongodb-memory-server-core`);
    }
  } else {
    failures.push('FerretDB: no Go toolchain on PATH');
  }

  try {
    return await startMemoryServer();
  } catch (error) {
    failures.push(`mongodb-memory-server-core: ${describe(error)}`);
  }

  throw new Error(
    [
      'No MongoDB wire-protocol server is available for the specs.',
      ...failures.map((failure) => `  - ${failure}`),
      'Set MONGODB_URI to a MongoDB you run (for example mongodb://127.0.0.1:27017/),',
      'or install Go 1.24 or newer so that FerretDB can be built,',
      'or allow mongodb-memory-server-core to download mongod.',
    ].join('\n'),
  );
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
  const binary = join(CACHE_DIR, FERRETDB_VERSION, 'ferretdb');
  if (existsSync(binary)) return binary;

  log(`Building FerretDB ${FERRETDB_VERSION} into .cache/ferretdb (once; takes a few minutes)`);
  const { stdout } = await run(
    'go',
    ['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`],
    {
      maxBuffer: 1 << 20,
    },
  );
  const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (moduleDir === undefined) throw new Error(`go mod download printed no Dir: ${stdout}`);

  // A per-process work directory keeps two concurrent first runs from tripping over each other.
  await mkdir(CACHE_DIR, { recursive: true });
  const work = await mkdtemp(join(CACHE_DIR, 'build-'));
  try {
    const source = join(work, 'src');
    await cp(moduleDir, source, { recursive: true });
    const versionDir = join(source, 'build', 'version');
    await chmod(versionDir, 0o755);
    await writeFile(join(versionDir, 'version.txt'), `${FERRETDB_VERSION}\n`);
    const built = join(work, 'ferretdb');
    await run('go', ['build', '-C', source, '-o', built, './cmd/ferretdb'], {
      maxBuffer: 16 << 20,
    });
    await mkdir(join(CACHE_DIR, FERRETDB_VERSION), { recursive: true });
    await rename(built, binary);
  } finally {
    await makeWritable(work);
    await rm(work, { recursive: true, force: true });
  }
  return binary;
}

/** The module cache is read-only and `cp` keeps modes, so the copy must be opened up to delete it. */
async function makeWritable(dir: string): Promise<void> {
  await run('chmod', ['-R', 'u+w', dir]).catch(() => undefined);
}

async function startFerretDB(binary: string): Promise<Database> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cms-ferretdb-'));
  const port = await freePort();
  const { child, output } = spawnFerretDB(binary, dataDir, port);

  // Last resort when the parent exits without calling stop(): no orphaned server, no litter.
  const onExit = () => {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const stop = async () => {
    process.removeListener('exit', onExit);
    await terminate(child);
    await rm(dataDir, { recursive: true, force: true });
  };

  const uri = `mongodb://127.0.0.1:${port}/`;
  try {
    await waitForPing(uri, child, output);
  } catch (error) {
    await stop();
    throw error;
  }
  return { uri, description: `FerretDB ${FERRETDB_VERSION} (SQLite backend) at ${uri}`, stop };
}

/** A FerretDB process and the last lines of its standard error, for the message when it fails. */
export interface FerretDBChild {
  readonly child: ChildProcess;
  readonly output: string[];
}

/**
 * Starts FerretDB with its SQLite backend on 127.0.0.1:`port`, keeping its data (and state) in
 * `dataDir`; the same directory and port give the same server back after it has stopped.
 */
export function spawnFerretDB(binary: string, dataDir: string, port: number): FerretDBChild {
  const child = spawn(
    binary,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${dataDir}/`,
      `--state-dir=${dataDir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const output: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output.push(chunk);
    if (output.length > 50) output.shift();
  });
  // Without a listener, a failed spawn (a binary removed meanwhile) would throw from the emitter.
  child.once('error', (error) => output.push(`spawn failed: ${error.message}`));
  return { child, output };
}

async function startMemoryServer(): Promise<Database> {
  const { MongoMemoryServer } = await import('mongodb-memory-server-core');
  const server = await MongoMemoryServer.create({ instance: { ip: '127.0.0.1' } });
  const uri = server.getUri();
  return {
    uri,
    description: `mongod from mongodb-memory-server-core at ${uri}`,
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
export async function waitForPing(
  uri: string,
  child: ChildProcess,
  output: readonly string[],
  timeoutMs = READY_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `FerretDB exited early (${child.exitCode ?? child.signalCode}): ${output.join('').trim()}`,
      );
    }
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 250, connectTimeoutMS: 250 });
    try {
      await client.db('admin').command({ ping: 1 });
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.close();
    }
  }
  throw new Error(`FerretDB did not answer ping within ${timeoutMs} ms: ${describe(lastError)}`);
}

/** Stops `child` with SIGTERM (SIGKILL after 5 s) and resolves once it has exited. */
export function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function redact(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//<credentials>@');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
