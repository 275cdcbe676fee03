/**
 * The chart of docs/benchmarks.md: requests per second of each store per end-to-end scenario,
 * one column per backend, drawn as SVG from bench/results/bench.json. `npm run bench` writes it
 * after a full run; `npx tsx bench/chart.ts` redraws it from the results file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchResults } from './run.js';

const OUTPUT = new URL('../docs/benchmarks.svg', import.meta.url);
const COLORS: Record<string, string> = {
  cms6: '#1b7f3b',
  'cms6-touch0': '#7cc48f',
  'connect-mongo6': '#d9822b',
  cms5: '#5b6ee1',
};
const WIDTH = 480;
const LABEL = 190;
const BAR = 14;
const GAP = 4;

const xml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The SVG text of the chart. */
export function chart(report: BenchResults): string {
  const columns = report.backends.filter((backend) => backend.e2e !== undefined);
  const parts: string[] = [];
  let height = 0;
  columns.forEach((backend, column) => {
    const x0 = column * (WIDTH + 20) + 10;
    let y = 50;
    parts.push(
      `<text x="${x0}" y="30" font-size="15" font-weight="bold">FerretDB 1.24, ${xml(backend.backend)} backend: requests/s</text>`,
    );
    for (const scenario of backend.e2e?.scenarios ?? []) {
      const bars = scenario.stores.filter((store) => store.store !== 'memory');
      const ceiling = scenario.stores.find((store) => store.store === 'memory');
      const max = Math.max(...bars.map((store) => store.requestsPerSecond.max)) * 1.15;
      parts.push(
        `<text x="${x0}" y="${y + 12}" font-size="13" font-weight="bold">${xml(scenario.label)}</text>`,
      );
      if (ceiling !== undefined) {
        parts.push(
          `<text x="${x0 + WIDTH - 10}" y="${y + 12}" font-size="11" text-anchor="end" fill="#666">MemoryStore: ${Math.round(ceiling.requestsPerSecond.median)}</text>`,
        );
      }
      y += 20;
      for (const store of bars) {
        const scale = (value: number) => ((WIDTH - LABEL - 60) * value) / max;
        const { median, min, max: top } = store.requestsPerSecond;
        const barX = x0 + LABEL;
        parts.push(
          `<text x="${barX - 6}" y="${y + BAR - 3}" font-size="11" text-anchor="end">${xml(store.label)}</text>`,
          `<rect x="${barX}" y="${y}" width="${scale(median).toFixed(1)}" height="${BAR}" fill="${COLORS[store.store] ?? '#999'}"/>`,
          // The spread over the rounds: a whisker from the slowest to the fastest.
          `<line x1="${(barX + scale(min)).toFixed(1)}" x2="${(barX + scale(top)).toFixed(1)}" y1="${y + BAR / 2}" y2="${y + BAR / 2}" stroke="#333"/>`,
          `<text x="${(barX + scale(top) + 4).toFixed(1)}" y="${y + BAR - 3}" font-size="11">${Math.round(median)}</text>`,
        );
        y += BAR + GAP;
      }
      y += 14;
    }
    height = Math.max(height, y);
  });
  const width = columns.length * (WIDTH + 20) + 10;
  const note = `Median of ${columns[0]?.e2e?.rounds ?? 0} interleaved rounds (whisker: slowest to fastest round), ${columns[0]?.e2e?.connections ?? 0} connections, ${report.date.slice(0, 10)}, Node ${report.machine.node}, ${report.machine.cpus} CPUs.`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${width}" height="${height + 30}" viewBox="0 0 ${width} ${height + 30}" font-family="sans-serif">`,
    '<title>Requests per second of each session store, per scenario and FerretDB backend</title>',
    `<rect width="100%" height="100%" fill="white"/>`,
    ...parts,
    `<text x="10" y="${height + 15}" font-size="11" fill="#666">${xml(note)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

/** Writes docs/benchmarks.svg and returns its path. */
export async function writeChart(report: BenchResults): Promise<string> {
  await writeFile(OUTPUT, chart(report));
  return fileURLToPath(OUTPUT);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = await readFile(new URL('./results/bench.json', import.meta.url), 'utf8');
  console.log(`wrote ${await writeChart(JSON.parse(text) as BenchResults)}`);
}
