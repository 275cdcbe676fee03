/**
 * Every fenced code block of README.md and docs/*.md (every file there, including ones added
 * later) runs or is checked here, against the test server, so that the docs cannot rot.
 *
 * The rules a block follows (the convention of the docs):
 * - ```js and ```ts blocks are complete programs that end by themselves. They run as written
 *   from a file under `.cache/docs-blocks/` inside the project, so that they import the package
 *   by its name (the package's self-reference to the built `dist/`, built first with
 *   `npm run build`): ES modules (`.mjs`; ```ts blocks through tsx as `.mts`), or CommonJS
 *   (`.cjs`) for a ```js block that calls `require(` and has no `import` statement. Only these
 *   are changed: the connection string `'mongodb://127.0.0.1:27017/'` becomes the test server's,
 *   and `databaseName: 'myapp'` (or `.db('myapp')`) a database of the block's own, dropped
 *   afterwards; any other `mongodb://` address fails the block. Each `process.env.NAME` a block
 *   reads is set to 32 random bytes in base64, as a secret would be. `app.listen(3000)` (or
 *   Fastify's `await app.listen({ port: 3000 });`) listens on a free loopback port
 *   instead; the spec then sends `GET /`, expects 200, and stops the process. A block must exit
 *   with 0 within 30 s; a few run at once.
 * - An HTML comment on the line before a block, `<!-- output: /regex/flags -->`, is matched
 *   against what the block prints on stdout.
 * - ```sh blocks are checked, not run: every line (comments and blank lines aside; commands
 *   joined by `&&` one by one, after leading `NAME=value` assignments) must be one of
 *   `npm ci`; `npm start`, `npm test` or `npm run <script> [-- args]` naming a script of
 *   package.json; `npm install`/`npm i` naming this package, its peer dependencies and their
 *   `@types` (a version or tag after `@` allowed); `NODE_DEBUG=connect-mongodb-session node …`.
 * - ```text blocks (output, document shapes, prose) are not run.
 * - Any other language tag, or none, fails: the spec does not know how to run it.
 * - What users would type into mongosh (`db.sessions.createIndex(…)`) is written as driver code
 *   in a ```js block, not run through a shim of the shell: the driver code is what an app's own
 *   migration runs, and this spec then runs exactly what readers copy, where a shim would only
 *   prove itself. One-line mentions in the prose stay inline code and are not run.
 *
 * The links of these pages (and of CHANGELOG.md) to files of the project are checked too: the
 * file exists, and an anchor names a heading there. The README and docs/README.md link every
 * page of docs/, so a guide added later is found from both.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { useSpecDatabase } from './support/database.js';
import { HttpClient } from './support/http.js';
import { headingAnchors, localLinks } from './support/markdown-links.js';
import { runProgram } from './support/programs.js';
import { ROOT } from './support/sandbox.js';

const database = useSpecDatabase(import.meta.url);

const BLOCK_TIMEOUT_MS = 30_000;
const DOCS_URI = "'mongodb://127.0.0.1:27017/'";
const DOCS_DATABASE = "databaseName: 'myapp'";
const DOCS_DB_CALL = ".db('myapp')";
const LISTEN = 'app.listen(3000)';
/** Fastify's form: `await app.listen({ port: 3000 })`, on a free loopback port here too. */
const FASTIFY_LISTEN = 'await app.listen({ port: 3000 });';
const PORT_LINE = 'docs-block-port=';

interface CodeBlock {
  /** `README.md:39`: the file and the line of the opening fence. */
  readonly where: string;
  readonly lang: string;
  readonly source: string;
  readonly output: RegExp | undefined;
}

/** The Markdown files whose blocks run: README.md and every file of docs/. */
async function markdownFiles(): Promise<string[]> {
  const docs = (await readdir(join(ROOT, 'docs'), { recursive: true }))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => join('docs', name));
  return ['README.md', ...docs];
}

function parseOutputComment(line: string | undefined, where: string): RegExp | undefined {
  const match = /^<!--\s*output:\s*\/(.*)\/([a-z]*)\s*-->$/.exec(line?.trim() ?? '');
  if (match === null) {
    assert.ok(
      !line?.includes('<!-- output'),
      `${where}: an output comment reads <!-- output: /regex/flags -->`,
    );
    return undefined;
  }
  return new RegExp(match[1] ?? '', match[2]);
}

function blocksOf(file: string, text: string): CodeBlock[] {
  const lines = text.split('\n');
  const blocks: CodeBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = /^```(.*)$/.exec(lines[index] ?? '');
    if (open === null) continue;
    const where = `${file}:${index + 1}`;
    const end = lines.findIndex((line, at) => at > index && line === '```');
    assert.ok(end > index, `${where}: the block is closed by a line of three backticks`);
    blocks.push({
      where,
      lang: (open[1] ?? '').trim(),
      source: `${lines.slice(index + 1, end).join('\n')}\n`,
      output: parseOutputComment(lines[index - 1], where),
    });
    index = end;
  }
  return blocks;
}

const blocks: CodeBlock[] = [];
for (const file of await markdownFiles()) {
  blocks.push(...blocksOf(file, await readFile(join(ROOT, file), 'utf8')));
}

const packageJson = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  scripts: Record<string, string>;
  peerDependencies: Record<string, string>;
};
const installable = new Set([
  packageJson.name,
  ...Object.keys(packageJson.peerDependencies).flatMap((peer) => [peer, `@types/${peer}`]),
]);

/** Why a command of a ```sh block is not one the docs may show, or undefined when it is. */
function refuseShellCommand(command: string): string | undefined {
  const words = command.trim().split(/\s+/);
  const assignments: string[] = [];
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? '')) assignments.push(words.shift() ?? '');
  const [program, verb, ...rest] = words;
  if (program === 'node') {
    return assignments.includes('NODE_DEBUG=connect-mongodb-session')
      ? undefined
      : 'node runs only as NODE_DEBUG=connect-mongodb-session node …';
  }
  if (program !== 'npm') return `${program ?? 'an empty command'} is not npm or node`;
  if (verb === 'ci') return rest.length === 0 ? undefined : 'npm ci takes no arguments';
  if (verb === 'start' || verb === 'test') {
    return verb in packageJson.scripts ? undefined : `package.json has no ${verb} script`;
  }
  if (verb === 'run') {
    const [script, separator] = rest;
    if (script === undefined || !(script in packageJson.scripts)) {
      return `package.json has no script ${script ?? '(none named)'}`;
    }
    return separator === undefined || separator === '--'
      ? undefined
      : 'arguments to a script follow --';
  }
  if (verb === 'install' || verb === 'i') {
    const names = rest.filter((word) => !word.startsWith('-'));
    if (!names.some((name) => name.replace(/(.)@.*$/, '$1') === packageJson.name)) {
      return `npm install names ${packageJson.name}`;
    }
    const stranger = names.find((name) => !installable.has(name.replace(/(.)@.*$/, '$1')));
    return stranger === undefined
      ? undefined
      : `${stranger} is neither this package nor a peer dependency`;
  }
  return `npm ${verb ?? ''} is not a command the docs may show`;
}

function checkShellBlock(block: CodeBlock): void {
  for (const [offset, line] of block.source.split('\n').entries()) {
    const code = line.replace(/(^|\s)#.*$/, '').trim();
    if (code === '') continue;
    for (const command of code.split('&&')) {
      const refusal = refuseShellCommand(command);
      assert.equal(
        refusal,
        undefined,
        `${block.where} (+${offset + 1}): \`${command.trim()}\`: ${refusal}`,
      );
    }
  }
}

/** The block as it runs here: on the test server, a database of its own, a free port. */
function onTestServer(block: CodeBlock, databaseName: string): string {
  const others = block.source.replaceAll(DOCS_URI, '').match(/mongodb(\+srv)?:\/\/[^'"`\s]*/g);
  assert.equal(others, null, `${block.where}: connect with the literal ${DOCS_URI} only`);
  return block.source
    .replaceAll(DOCS_URI, `'${database.uri.replace(/\/$/, '')}/'`)
    .replaceAll(DOCS_DATABASE, `databaseName: '${databaseName}'`)
    .replaceAll(DOCS_DB_CALL, `.db('${databaseName}')`)
    .replaceAll(
      FASTIFY_LISTEN,
      `await app.listen({ port: 0, host: '127.0.0.1' }); console.log('${PORT_LINE}' + app.server.address().port);`,
    )
    .replaceAll(
      LISTEN,
      `(globalThis.docsServer = app.listen(0, '127.0.0.1', () => console.log('${PORT_LINE}' + globalThis.docsServer.address().port)))`,
    );
}

function extensionOf(block: CodeBlock): string {
  if (block.lang === 'ts') return '.mts';
  const commonJs = /\brequire\(/.test(block.source) && !/^import\s/m.test(block.source);
  return commonJs ? '.cjs' : '.mjs';
}

async function runCodeBlock(t: TestContext, block: CodeBlock, index: number): Promise<void> {
  const databaseName = `cms_docs_${randomBytes(3).toString('hex')}_${index}`;
  t.after(() => database.client.db(databaseName).dropDatabase());
  const dir = join(ROOT, '.cache', 'docs-blocks');
  await mkdir(dir, { recursive: true });
  const name = block.where.replace(/[^a-zA-Z0-9]+/g, '-');
  const file = join(dir, `${name}-${process.pid}${extensionOf(block)}`);
  await writeFile(file, onTestServer(block, databaseName));
  t.after(() => rm(file, { force: true }));

  const listens = block.source.includes(LISTEN) || block.source.includes(FASTIFY_LISTEN);
  const secrets = [...block.source.matchAll(/process\.env\.([A-Z_][A-Z0-9_]*)/g)].map(
    ([, name]) => [name ?? '', randomBytes(32).toString('base64')] as const,
  );
  const args = file.endsWith('.mts') ? ['--import', 'tsx', file] : [file];
  const result = await runProgram(args, {
    env: Object.fromEntries(secrets),
    timeoutMs: BLOCK_TIMEOUT_MS,
    portPattern: new RegExp(`${PORT_LINE}(\\d+)\\n`),
    onPort: async (port) => {
      const browser = new HttpClient(`http://127.0.0.1:${port}`);
      const response = await browser.get('/');
      assert.equal(response.status, 200, `${block.where}: GET / answers 200 (${response.body})`);
    },
  });
  const printed = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.signal, null, `${block.where}: the block ended by itself\n${printed}`);
  assert.equal(
    result.code,
    listens ? null : 0,
    `${block.where}: the block exits with 0\n${printed}`,
  );
  if (listens) {
    assert.ok(result.stdout.includes(PORT_LINE), `${block.where}: the app listened\n${printed}`);
  }
  if (block.output !== undefined) {
    assert.match(result.stdout, block.output, `${block.where}: the block prints what the docs say`);
  }
}

test('the docs have code blocks, and the README its Express and await examples', () => {
  const readme = blocks.filter((block) => block.where.startsWith('README.md:'));
  assert.ok(
    readme.some((block) => block.lang === 'js' && block.source.includes(LISTEN)),
    'the README has an Express example',
  );
  assert.ok(
    readme.some((block) => block.lang === 'js' && block.source.includes('SessionRepository')),
    'the README has an await example',
  );
});

test('every link of the docs to a file of the project finds it, and its anchor a heading there', async () => {
  const pages = [...(await markdownFiles()), 'CHANGELOG.md'];
  let checked = 0;
  for (const page of pages) {
    for (const link of localLinks(await readFile(join(ROOT, page), 'utf8'))) {
      const where = `${page}:${link.line}: ${link.path}${link.anchor === undefined ? '' : `#${link.anchor}`}`;
      const target = link.path === '' ? page : normalize(join(dirname(page), link.path));
      await access(join(ROOT, target)).catch(() => assert.fail(`${where}: no file ${target}`));
      if (link.anchor !== undefined && target.endsWith('.md')) {
        const anchors = headingAnchors(await readFile(join(ROOT, target), 'utf8'));
        assert.ok(anchors.has(link.anchor), `${where}: ${target} has no heading #${link.anchor}`);
      }
      checked++;
    }
  }
  assert.ok(checked > 50, `the pages' links are found (${checked})`);
});

test('the README and docs/README.md link every page of docs/', async () => {
  const guides = (await markdownFiles()).filter((file) => file !== 'README.md');
  for (const index of ['README.md', 'docs/README.md']) {
    const linked = new Set(
      localLinks(await readFile(join(ROOT, index), 'utf8')).map(({ path }) =>
        normalize(join(dirname(index), path)),
      ),
    );
    const missing = guides.filter((guide) => guide !== index && !linked.has(guide));
    assert.deepEqual(missing, [], `${index} links every guide`);
  }
});

describe('every code block of the docs', { concurrency: 3 }, () => {
  for (const [index, block] of blocks.entries()) {
    if (block.lang === 'text') continue;
    test(`${block.where} (${block.lang || 'untagged'})`, async (t) => {
      if (block.lang === 'sh') return checkShellBlock(block);
      assert.ok(
        block.lang === 'js' || block.lang === 'ts',
        `${block.where}: a block is js, ts, sh or text; this one is ${block.lang || 'untagged'}`,
      );
      await runCodeBlock(t, block, index);
    });
  }
});
