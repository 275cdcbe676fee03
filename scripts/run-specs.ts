/**
 * Runs the specs with node's test runner against one database server for the whole run.
 * Usage: `tsx scripts/run-specs.ts [spec files…]` (default: every `spec/**\/*.spec.ts`).
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startDatabase } from './database.js';

async function specFiles(): Promise<string[]> {
  const given = process.argv.slice(2);
  if (given.length > 0) return given;
  const entries = await readdir('spec', { recursive: true });
  return entries
    .filter((entry) => entry.endsWith('.spec.ts'))
    .map((entry) => join('spec', entry))
    .sort();
}

const files = await specFiles();
if (files.length === 0) {
  console.error('No spec files found.');
  process.exit(1);
}

const database = await startDatabase();
console.log(`Test database: ${database.description}`);

let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= database.stop();
  return stopping;
};

const runner = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${new URL('./summary-reporter.mjs', import.meta.url).href}`,
    '--test-reporter-destination=stdout',
    ...files,
  ],
  { stdio: 'inherit', env: { ...process.env, MONGODB_URI: database.uri } },
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    runner.kill(signal);
    void stop().finally(() => process.exit(130));
  });
}

const code = await new Promise<number>((resolve) => {
  runner.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal === null ? 1 : 128)));
  runner.once('error', (error) => {
    console.error(error);
    resolve(1);
  });
});
await stop();
process.exit(code);
