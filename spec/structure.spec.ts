/**
 * The shape of lib/ that docs/architecture.md describes, so that it holds as the code grows: the
 * layers are folders, imports run down them and never back up, no import circle (type imports
 * included, as madge reads them), no file over 400 lines, and no more than a dozen files at the
 * top of lib/.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';

interface MadgeResult {
  obj(): Record<string, string[]>;
  circular(): string[][];
}
type Madge = (path: string, config: Record<string, unknown>) => Promise<MadgeResult>;

const madge = createRequire(import.meta.url)('madge') as Madge;

/** The folders of lib/, from the bottom up: a file may import from its own folder and those below. */
const LAYERS = ['support', 'errors', 'options', 'codec', 'expiry', 'repository', 'store'];
/** The entry points, at the top of lib/: they may import from every folder. */
const TOP = LAYERS.length;
const MAX_LINES = 400;
const MAX_TOP_FILES = 12;

const graph = madge('lib', {
  fileExtensions: ['ts'],
  tsConfig: 'tsconfig.json',
  detectiveOptions: { ts: { skipTypeImports: false }, tsx: { skipTypeImports: false } },
});

function layerOf(file: string): number {
  const folder = file.includes('/') ? file.slice(0, file.indexOf('/')) : undefined;
  if (folder === undefined) return TOP;
  const layer = LAYERS.indexOf(folder);
  assert.notEqual(layer, -1, `${file} is in a folder docs/architecture.md does not name`);
  return layer;
}

test('lib/ has no import circle, type imports included', async () => {
  assert.deepEqual((await graph).circular(), []);
});

test('imports run down the layers: no folder imports from a folder above it', async () => {
  const upward: string[] = [];
  for (const [file, imports] of Object.entries((await graph).obj())) {
    for (const imported of imports) {
      if (layerOf(imported) > layerOf(file)) upward.push(`${file} → ${imported}`);
    }
  }
  assert.deepEqual(upward, []);
});

test('every module of lib/ is reached from an entry point', async () => {
  const modules = (await graph).obj();
  const reached = new Set<string>();
  const visit = (file: string): void => {
    if (reached.has(file)) return;
    reached.add(file);
    for (const imported of modules[file] ?? []) visit(imported);
  };
  for (const entry of ['index.ts', 'commonjs.ts', 'koa.ts']) visit(entry);
  assert.deepEqual(
    Object.keys(modules).filter((file) => !reached.has(file)),
    [],
  );
});

test(`no file of lib/ is over ${MAX_LINES} lines, and at most ${MAX_TOP_FILES} files sit at its top`, async () => {
  const entries = await readdir('lib', { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts'));
  const long: string[] = [];
  for (const file of files) {
    const path = join(file.parentPath, file.name);
    const lines = (await readFile(path, 'utf8')).split('\n').length - 1;
    if (lines > MAX_LINES) long.push(`${path}: ${lines}`);
  }
  assert.deepEqual(long, []);
  const top = files.filter((file) => file.parentPath === 'lib');
  assert.ok(top.length <= MAX_TOP_FILES, `${top.length} files at the top of lib/`);
});
