/**
 * FerretDB servers a spec starts, stops, kills, freezes and restarts itself, for fault specs.
 * Each one has a loopback port and a SQLite data directory of its own, kept across restarts, so
 * a restarted server has the data the killed one had committed. Every server is killed and its
 * directory removed when the test ends, pass or fail, and at the latest when the process exits.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, type TestContext } from 'node:test';
import {
  ensureFerretDB,
  FERRETDB_VERSION,
  freePort,
  hasGo,
  spawnFerretDB,
  terminate,
  waitForPing,
} from '../../scripts/database.js';

/** How long a start may take before the spec fails; generous, for a shared, noisy machine. */
const START_TIMEOUT_MS = 20_000;

export type ServerState = 'stopped' | 'running' | 'frozen';

/** One FerretDB server under the spec's control. */
export class FerretDBProcess {
  /** `mongodb://127.0.0.1:<port>/` */
  readonly uri: string;
  readonly port: number;
  readonly dataDir: string;
  readonly #binary: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #frozen = false;
  #disposed = false;
  readonly #onExit = () => {
    this.#child?.kill('SIGKILL');
    rmSync(this.dataDir, { recursive: true, force: true });
  };

  constructor(binary: string, port: number, dataDir: string) {
    this.#binary = binary;
    this.port = port;
    this.dataDir = dataDir;
    this.uri = `mongodb://127.0.0.1:${port}/`;
    // Last resort, should the test process end without the spec's cleanup running.
    process.once('exit', this.#onExit);
  }

  get state(): ServerState {
    if (this.#child === undefined) return 'stopped';
    return this.#frozen ? 'frozen' : 'running';
  }

  /** The process id of the running server. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the server (again) on its port and data directory; resolves once it answers ping. */
  async start(): Promise<void> {
    if (this.#disposed) throw new Error('This FerretDB server has been disposed of');
    if (this.#child !== undefined) throw new Error(`FerretDB is already ${this.state}`);
    const { child, output } = spawnFerretDB(this.#binary, this.dataDir, this.port);
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (this.#child === child) {
          this.#child = undefined;
          this.#frozen = false;
        }
        resolve();
      });
    });
    try {
      await waitForPing(this.uri, child, output, START_TIMEOUT_MS);
    } catch (error) {
      await this.kill();
      throw error;
    }
  }

  /** Stops the server gracefully (SIGTERM, SIGKILL after 5 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    // A stopped process keeps SIGTERM pending until it runs again.
    if (this.#frozen) this.thaw();
    await terminate(child);
    await this.#exited;
  }

  /** Kills the server with SIGKILL, as a crash or the OOM killer would, and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill('SIGKILL');
    await this.#exited;
  }

  /** Suspends the server with SIGSTOP: connections stay open and nothing is answered. */
  freeze(): void {
    const child = this.#child;
    if (child === undefined) throw new Error('FerretDB is not running');
    child.kill('SIGSTOP');
    this.#frozen = true;
  }

  /** Resumes a frozen server with SIGCONT. */
  thaw(): void {
    const child = this.#child;
    if (child === undefined) throw new Error('FerretDB is not running');
    child.kill('SIGCONT');
    this.#frozen = false;
  }

  /** Kills the server and removes its data directory; safe to call twice. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.kill();
    process.removeListener('exit', this.#onExit);
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

export interface ServerOptions {
  /** The loopback port; a free one by default. */
  readonly port?: number;
  /** Whether to start the server before returning it. @default true */
  readonly start?: boolean;
}

export interface FerretDBServers {
  /**
   * A new server for test `t`, disposed of when `t` ends. When FerretDB cannot run here, marks
   * `t` as skipped with the reason and returns `undefined`: the test must then return.
   */
  create(t: TestContext, options?: ServerOptions): Promise<FerretDBProcess | undefined>;
  /** Why fault specs cannot run here, or `undefined` when they can (known after the `before` hook). */
  readonly unavailable: string | undefined;
}

/**
 * Finds (or builds, which takes minutes the first time) the FerretDB binary in a `before` hook of
 * the calling suite. A run against the user's own `MONGODB_URI` on a machine without Go or a
 * built binary skips the fault specs, saying why, rather than passing them silently.
 */
export function useFerretDBServers(): FerretDBServers {
  let binary: string | undefined;
  let unavailable: string | undefined = 'FerretDB was not prepared (the before hook did not run)';
  before(
    async () => {
      const found = await findBinary();
      binary = found.binary;
      unavailable = found.unavailable;
    },
    { timeout: 15 * 60_000 },
  );
  return {
    get unavailable() {
      return unavailable;
    },
    async create(t, options = {}) {
      if (binary === undefined) {
        t.skip(`fault specs need FerretDB ${FERRETDB_VERSION}: ${unavailable}`);
        return undefined;
      }
      const dataDir = await mkdtemp(join(tmpdir(), 'cms-faults-'));
      const server = new FerretDBProcess(binary, options.port ?? (await freePort()), dataDir);
      t.after(() => server.dispose());
      if (options.start ?? true) await server.start();
      return server;
    },
  };
}

async function findBinary(): Promise<{ binary?: string; unavailable?: string }> {
  const given = process.env.FERRETDB_BINARY;
  if (given !== undefined && given !== '') {
    return existsSync(given)
      ? { binary: given }
      : { unavailable: `FERRETDB_BINARY names no file (${given})` };
  }
  if (!(await hasGo())) {
    const cached = await ensureFerretDB(() => undefined).catch(() => undefined);
    return cached === undefined
      ? { unavailable: 'no Go toolchain on PATH to build it, and no binary in .cache/ferretdb' }
      : { binary: cached };
  }
  try {
    return { binary: await ensureFerretDB((line) => console.error(line)) };
  } catch (error) {
    return { unavailable: `it could not be built: ${(error as Error).message}` };
  }
}
