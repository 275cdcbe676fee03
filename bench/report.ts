/**
 * The results tables of docs/benchmarks.md, as Markdown, from bench/results/bench.json, so that
 * the published figures are the file's and nothing is copied by hand:
 *   npx tsx bench/report.ts [results file] > /tmp/tables.md
 */
import { readFile } from 'node:fs/promises';
import { cell, type Spread } from './common.js';
import { PEERS, STORE_LABELS } from './e2e.js';
import type { BackendResults, BenchResults } from './run.js';

const range = (value: Spread, decimals = 0) =>
  `${cell(value.median, decimals)} (${cell(value.min, decimals)}–${cell(value.max, decimals)})`;

function markdown(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function driverTables(result: BackendResults): string[] {
  const driver = result.driver;
  if (driver === undefined) return [];
  const rows = driver.rows.map((row) => [
    `\`${row.operation}\``,
    String(row.concurrency),
    range(row.driver.opsPerSecond),
    range(row.repository.opsPerSecond),
    range(row.ratio, 2),
    `${cell(row.driver.p50Ms.median, 2)} / ${cell(row.repository.p50Ms.median, 2)}`,
    `${cell(row.driver.p99Ms.median, 1)} / ${cell(row.repository.p99Ms.median, 1)}`,
  ]);
  return [
    `#### Repository against the driver (${driver.rounds} rounds of ${driver.secondsPerStep} s, ${driver.backgroundSessions} other sessions)`,
    markdown(
      [
        'operation',
        'concurrency',
        'driver ops/s',
        'repository ops/s',
        'ratio',
        'p50 ms driver / repository',
        'p99 ms driver / repository',
      ],
      rows,
    ),
    `The gate once open: ${driver.gate.gatedNs} ns a call against ${driver.gate.directNs} ns for calling the operation directly (${driver.gate.addedNs} ns added).`,
    markdown(
      ['sent by', 'filter', 'plan'],
      driver.plans.map((plan) => [plan.usedBy, `\`${plan.filter}\``, plan.plan]),
    ),
  ];
}

function e2eTables(result: BackendResults): string[] {
  const e2e = result.e2e;
  if (e2e === undefined) return [];
  const tables = [
    `#### End to end (${e2e.rounds} rounds of ${e2e.secondsPerRound} s, ${e2e.connections} connections, ${e2e.signedInSessions} signed-in visitors, ${e2e.backgroundSessions} other sessions)`,
  ];
  for (const scenario of e2e.scenarios) {
    const rows = scenario.stores.map((store) => [
      store.label,
      range(store.requestsPerSecond),
      cell(store.p50Ms.median, 0),
      cell(store.p99Ms.median, 0),
      String(store.errors),
      cell(store.commandsPerRequest, 2),
      cell(store.writesPerRequest, 2),
      cell(store.databaseMsPerRequest, 1),
      store.store === 'cms6' ? '' : range(scenario.ratios[store.store] ?? nan(), 2),
    ]);
    tables.push(
      `**${scenario.label}**`,
      markdown(
        [
          'store',
          'requests/s',
          'p50 ms',
          'p99 ms',
          'errors',
          'commands/request',
          'writes/request',
          'database ms/request',
          'this store ×',
        ],
        rows,
      ),
    );
  }
  const touch0 = e2e.scenarios.map((scenario) => [
    scenario.label,
    ...PEERS.map((peer) => range(scenario.ratiosTouch0[peer] ?? nan(), 2)),
  ]);
  tables.push(
    `With \`touchAfterMs: 0\`, this store against the peers (requests/s ratio, per round):`,
    markdown(['scenario', ...PEERS.map((peer) => STORE_LABELS[peer])], touch0),
  );
  return tables;
}

function scaleTables(result: BackendResults): string[] {
  const scale = result.scale;
  if (scale === undefined) return [];
  const { seeding } = scale;
  const latency = scale.sizes.map((size) => [
    size.sessions.toLocaleString('en'),
    String(Math.min(size.get.calls, size.set.calls, size.miss.calls)),
    `${cell(size.get.p50Ms, 1)} / ${cell(size.get.p99Ms, 1)}`,
    `${cell(size.set.p50Ms, 1)} / ${cell(size.set.p99Ms, 1)}`,
    `${cell(size.miss.p50Ms, 1)} / ${cell(size.miss.p99Ms, 1)}`,
    cell(size.driverGet.p50Ms, 1),
  ]);
  const reading = scale.sizes.map((size) => {
    const read = (it: (typeof size)['cursor']) =>
      'error' in it ? ['failed', '-'] : [cell(it.ms / 1000, 1), cell(it.peakGrowthMiB, 0)];
    return [size.sessions.toLocaleString('en'), ...read(size.cursor), ...read(size.all)];
  });
  const clear = scale.clear.map((entry) =>
    'skipped' in entry
      ? [entry.sessions.toLocaleString('en'), 'not measured', entry.skipped]
      : [
          entry.sessions.toLocaleString('en'),
          cell(entry.ms / 1000, 1),
          `${entry.lengthAfter} left`,
        ],
  );
  return [
    `#### Scale (${scale.documentBytes}-byte documents; seeded ${seeding.reached.toLocaleString('en')} of ${seeding.requested.toLocaleString('en')} in ${seeding.seconds} s, ${seeding.sessionsPerSecond}/s${seeding.stoppedBecause === null ? '' : `; ${seeding.stoppedBecause}`})`,
    markdown(
      [
        'sessions',
        'calls',
        '`get` p50 / p99 ms',
        '`set` p50 / p99 ms',
        'missing id p50 / p99 ms',
        'driver `findOne` p50 ms',
      ],
      latency,
    ),
    markdown(['sessions', 'cursor s', 'cursor +MiB', '`all()` s', '`all()` +MiB'], reading),
    markdown(['sessions', '`clear()` s', ''], clear),
  ];
}

function nan(): Spread {
  return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
}

const text = await readFile(
  process.argv[2] ?? new URL('./results/bench.json', import.meta.url),
  'utf8',
);
const report = JSON.parse(text) as BenchResults;
for (const result of report.backends) {
  console.log(`### ${result.database}\n`);
  for (const part of [...driverTables(result), ...e2eTables(result), ...scaleTables(result)]) {
    console.log(`${part}\n`);
  }
}
