/**
 * The CI workflow (.github/workflows/ci.yml) cannot run here, so it is checked instead: actionlint
 * (built once from its Go module by scripts/actionlint.ts, then cached in .cache/actionlint) finds
 * nothing in it, shellcheck included where shellcheck is installed; and it still tests what it
 * promises, MongoDB 6.0, 7.0 and 8.0, standalone and as a replica set, on Node 20.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ACTIONLINT_VERSION,
  actionlintBinary,
  formatFinding,
  lintWorkflows,
  workflowFiles,
} from '../scripts/actionlint.js';
import { hasGo } from '../scripts/database.js';
import { ROOT } from './support/sandbox.js';

const WORKFLOW = join(ROOT, '.github', 'workflows', 'ci.yml');

test('actionlint finds nothing in the workflows', { timeout: 10 * 60_000 }, async (t) => {
  // As with FerretDB: a binary built earlier serves without Go; without either, say why.
  if (!existsSync(actionlintBinary()) && !(await hasGo())) {
    t.skip(`actionlint ${ACTIONLINT_VERSION} is built with Go, and no Go toolchain is on PATH`);
    return;
  }
  const files = await workflowFiles();
  assert.ok(files.includes(join('.github', 'workflows', 'ci.yml')), 'the CI workflow is checked');
  const findings = await lintWorkflows(files, (line) => t.diagnostic(line));
  assert.deepEqual(findings.map(formatFinding), []);
});

test('the workflow runs the specs on MongoDB 6.0, 7.0 and 8.0, standalone and as a replica set, on Node 20', async () => {
  const workflow = await readFile(WORKFLOW, 'utf8');
  assert.match(workflow, /^\s+mongodb-version: \['6\.0', '7\.0', '8\.0'\]$/m);
  assert.match(workflow, /^\s+topology: \[standalone, replica-set\]$/m);
  assert.match(workflow, /^\s+node-version: 20\.x$/m);
  assert.ok(
    workflow.includes('mongodb://127.0.0.1:27017,127.0.0.1:27018,127.0.0.1:27019/?replicaSet=rs0'),
    'the replica-set legs connect to all three members by the set name',
  );
  assert.match(workflow, /^\s+MONGODB_URI: \$\{\{ matrix\.mongodb-uri \}\}$/m);
  assert.match(workflow, /^\s+- run: npm test$/m);
});
