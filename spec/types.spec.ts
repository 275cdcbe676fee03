/**
 * The public types as a TypeScript application meets them: the consumers in
 * spec/fixtures/types/ import the package by its name (the package's self-reference, so the
 * built declarations dist/index.d.ts answer, as from an install) and are type-checked under the
 * strictest settings users have (spec/fixtures/types/tsconfig.json: strict,
 * exactOptionalPropertyTypes, noUncheckedIndexedAccess, skipLibCheck off). What must compile is
 * written plainly; what must not carries `@ts-expect-error`, which tsc reports as unused once it
 * compiles. The CommonJS declarations, which tsdown builds from the same source, and the `module`
 * settings are the tarball spec's (spec/tarball-types.spec.ts). Needs dist/; no database.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { execute, ROOT } from './support/sandbox.js';

const FIXTURES = join(ROOT, 'spec', 'fixtures', 'types');
const DECLARATIONS = join(ROOT, 'dist', 'index.d.ts');
const FIXTURE_FILES = ['repository.ts', 'store.ts', 'cookie.ts'];

/** tsc's output on the fixtures, with the files it read (`--listFiles`). */
let output = '';

before(async () => {
  if (!existsSync(DECLARATIONS)) {
    throw new Error('dist/ is missing: run `npm run build` before this spec (`npm test` does).');
  }
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  // tsc exits with an error when a fixture fails to compile; its report is the output then.
  output = await execute(process.execPath, [tsc, '-p', FIXTURES, '--listFiles'], {
    cwd: FIXTURES,
    timeoutMs: 120_000,
  }).then(
    ({ stdout }) => stdout,
    (error: Error) => error.message,
  );
});

/** tsc's errors (`file(line,column): error TS…`), by file; `''` for those of no file. */
function errorsByFile(): Map<string, string[]> {
  const errors = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const file =
      /^(.+?)\(\d+,\d+\): error TS/.exec(line)?.[1] ?? (/error TS\d+/.test(line) ? '' : undefined);
    if (file !== undefined) errors.set(file, [...(errors.get(file) ?? []), line]);
  }
  return errors;
}

test('the consumers import the package by name and get its built declarations, which compile without skipLibCheck', () => {
  const read = output.split('\n').map((line) => line.trim());

  assert.ok(read.includes(DECLARATIONS), `tsc did not read ${DECLARATIONS}:\n${output}`);
  assert.ok(
    !read.some((line) => line.startsWith(join(ROOT, 'lib'))),
    `tsc read the sources instead of the declarations:\n${output}`,
  );
  const elsewhere = [...errorsByFile()].filter(([file]) => !FIXTURE_FILES.includes(file));
  assert.deepEqual(elsewhere, []);
});

test('an untyped SessionRepository takes and gives back any session object; a typed one checks its fields; every option takes undefined', () => {
  assert.deepEqual(errorsByFile().get('repository.ts') ?? [], []);
});

test("a session's cookie takes and gives back the fields express-session stores, with its types, written by hand or as its Cookie, with and without a type argument", () => {
  assert.deepEqual(errorsByFile().get('cookie.ts') ?? [], []);
});

test('MongoDBStore: options take undefined, callbacks see the value on success, express-session callbacks and its Store type fit, events are typed', () => {
  assert.deepEqual(errorsByFile().get('store.ts') ?? [], []);
});
