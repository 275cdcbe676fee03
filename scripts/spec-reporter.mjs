// node:test's spec reporter, printing each process warning once. Every spec file runs in a
// process of its own, and a warning the store gives once per process (FerretDB's missing TTL
// indexes, SESSION_STORE_TTL_UNSUPPORTED) would otherwise be printed once per file, and again
// in each run of scripts/run-specs.ts. A warning reaches the reporter as lines of the file's
// standard error, `(node:<pid>) [CODE] Warning: …` and Node's hint about --trace-warnings; a line
// printed before, the pid aside, is left out. The runs share what they printed through the
// JSON file SPEC_WARNINGS_FILE names, when it is set. Specs that check warnings listen to the
// process's 'warning' events, which this does not touch.
import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { spec } from 'node:test/reporters';

const WARNING = /^\(node:\d+\) (.*\b\w*Warning: .*)$/s;
const TRACE_HINT = /^\(Use `node --trace-warnings \.\.\.` to show where the warning was created\)/;

async function printedBefore(file) {
  if (!file) return [];
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return [];
  }
}

export default async function* specPrintingWarningsOnce(source) {
  const file = process.env.SPEC_WARNINGS_FILE;
  const printed = new Set(await printedBefore(file));
  let repeats = 0;
  async function* filtered() {
    for await (const event of source) {
      if (event.type === 'test:stderr') {
        const { message } = event.data;
        const warning = WARNING.exec(message)?.[1] ?? (TRACE_HINT.test(message) ? message : null);
        if (warning !== null) {
          if (printed.has(warning)) {
            if (!TRACE_HINT.test(message)) repeats += 1;
            continue;
          }
          printed.add(warning);
        }
      }
      yield event;
    }
  }
  const reporter = new spec();
  Readable.from(filtered()).pipe(reporter);
  yield* reporter;
  if (file) await writeFile(file, JSON.stringify([...printed]));
  if (repeats > 0) {
    const warnings = repeats === 1 ? 'warning' : 'warnings';
    yield `(${repeats} repeated ${warnings} left out: each warning is printed once)\n`;
  }
}
