/**
 * Checks the GitHub Actions workflows (`.github/workflows/*.yml`) with actionlint, which also runs
 * shellcheck on their `run:` scripts when shellcheck is on PATH.
 * Usage: `npx tsx scripts/actionlint.ts [workflow files…]`; the exit code is actionlint's
 * (0: no findings, 1: findings).
 *
 * actionlint is a Go program. It is built once, as scripts/database.ts builds FerretDB, into
 * `.cache/actionlint/<version>/actionlint`: `go install` asks the proxy for the module's version
 * list (which a restricted proxy may refuse), so the module is downloaded with
 * `go mod download -json`, copied out of the read-only module cache, and built there. The only
 * network it needs is the Go module proxy (the module and its dependencies); later runs need none.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The actionlint release the project checks its workflows with (its module needs Go 1.25). */
export const ACTIONLINT_VERSION = 'v1.7.12';
const ACTIONLINT_MODULE = 'github.com/rhysd/actionlint';
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE_DIR = join(PROJECT_ROOT, '.cache', 'actionlint');
const WORKFLOWS_DIR = join(PROJECT_ROOT, '.github', 'workflows');

export type Log = (line: string) => void;

/** One finding of actionlint, as its `{{json .}}` format prints it. */
export interface Finding {
  readonly message: string;
  readonly filepath: string;
  readonly line: number;
  readonly column: number;
  readonly kind: string;
}

/** Where the built binary lives, whether or not it has been built yet. */
export function actionlintBinary(): string {
  return join(CACHE_DIR, ACTIONLINT_VERSION, 'actionlint');
}

/** Builds actionlint once (a few seconds with the module cache warm) and returns the binary's path. */
export async function ensureActionlint(log: Log = (line) => console.error(line)): Promise<string> {
  const binary = actionlintBinary();
  if (existsSync(binary)) return binary;

  log(`Building actionlint ${ACTIONLINT_VERSION} into .cache/actionlint (once)`);
  await mkdir(CACHE_DIR, { recursive: true });
  // Outside any Go module, so that `go mod download` fetches the module itself.
  const { stdout } = await run(
    'go',
    ['mod', 'download', '-json', `${ACTIONLINT_MODULE}@${ACTIONLINT_VERSION}`],
    { cwd: CACHE_DIR, maxBuffer: 1 << 20 },
  );
  const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (moduleDir === undefined) throw new Error(`go mod download printed no Dir: ${stdout}`);

  // A per-process work directory keeps two concurrent first runs from tripping over each other.
  const work = await mkdtemp(join(CACHE_DIR, 'build-'));
  try {
    const source = join(work, 'src');
    await cp(moduleDir, source, { recursive: true });
    const built = join(work, 'actionlint');
    // The version a release build stamps in, so that `actionlint -version` names it.
    const ldflags = `-X ${ACTIONLINT_MODULE}.version=${ACTIONLINT_VERSION}`;
    await run('go', ['build', '-C', source, '-ldflags', ldflags, '-o', built, './cmd/actionlint'], {
      maxBuffer: 16 << 20,
    });
    await mkdir(join(CACHE_DIR, ACTIONLINT_VERSION), { recursive: true });
    await rename(built, binary);
  } finally {
    // The module cache is read-only and `cp` keeps modes, so the copy must be opened up to delete it.
    await run('chmod', ['-R', 'u+w', work]).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
  return binary;
}

/** The workflow files, relative to the project's root, as actionlint reports them. */
export async function workflowFiles(): Promise<string[]> {
  const names = await readdir(WORKFLOWS_DIR).catch(() => [] as string[]);
  return names
    .filter((name) => name.endsWith('.yml') || name.endsWith('.yaml'))
    .sort()
    .map((name) => relative(PROJECT_ROOT, join(WORKFLOWS_DIR, name)));
}

/** Runs actionlint on `files` (every workflow by default) and resolves with its findings. */
export async function lintWorkflows(
  files?: readonly string[],
  log?: Log,
): Promise<readonly Finding[]> {
  const binary = await ensureActionlint(log);
  const targets = files ?? (await workflowFiles());
  if (targets.length === 0) throw new Error('no workflow files in .github/workflows');
  try {
    const { stdout } = await run(binary, ['-no-color', '-format', '{{json .}}', ...targets], {
      cwd: PROJECT_ROOT,
      maxBuffer: 16 << 20,
    });
    return parseFindings(stdout);
  } catch (error) {
    // Exit code 1 means "findings", printed on stdout like a clean run's `[]`; others are failures.
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (failed.code === 1 && failed.stdout !== undefined) return parseFindings(failed.stdout);
    throw new Error(`actionlint failed (${String(failed.code)}): ${failed.stderr ?? ''}`.trim(), {
      cause: error,
    });
  }
}

function parseFindings(stdout: string): readonly Finding[] {
  const text = stdout.trim();
  return text === '' || text === 'null' ? [] : (JSON.parse(text) as Finding[]);
}

/** `file:line:column: message [kind]`, as actionlint's own output reads. */
export function formatFinding({ filepath, line, column, message, kind }: Finding): string {
  return `${filepath}:${line}:${column}: ${message} [${kind}]`;
}

async function main(): Promise<number> {
  const binary = await ensureActionlint();
  const given = process.argv.slice(2).map((file) => relative(PROJECT_ROOT, resolve(file)));
  const targets = given.length > 0 ? given : await workflowFiles();
  if (targets.length === 0) {
    console.error('No workflow files in .github/workflows.');
    return 1;
  }
  const child = spawn(binary, [...targets], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode ?? 1));
  });
  if (code === 0)
    console.log(`actionlint ${ACTIONLINT_VERSION}: no findings in ${targets.join(', ')}`);
  return code;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
