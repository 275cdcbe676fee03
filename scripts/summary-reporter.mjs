// A node:test reporter that ends the run with one plain line, `N passed, N failed, N skipped`,
// so that a run which executed no test is visible whatever reads the log. Under
// scripts/run-specs.ts the line names the run's backend (`SPEC_BACKEND`), and the counts are
// also written as JSON to `SPEC_SUMMARY_FILE`, from which that script adds up its runs.
import { writeFile } from 'node:fs/promises';

export default async function* summary(source) {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (event.data.details?.type === 'suite') continue;
    if (event.data.skip !== undefined || event.data.todo !== undefined) counts.skipped += 1;
    else if (event.type === 'test:pass') counts.passed += 1;
    else counts.failed += 1;
  }
  const { SPEC_BACKEND: backend, SPEC_SUMMARY_FILE: file } = process.env;
  if (file) await writeFile(file, JSON.stringify(counts));
  const label = backend ? `${backend}: ` : '';
  yield `\n${label}${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`;
}
