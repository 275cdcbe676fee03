/**
 * Database commands per request of an Express app on the store: a read, a write, a login
 * (`regenerate`) and a logout (`destroy`), counted with command monitoring, not timed. Runs on
 * FerretDB with SQLite (or MONGODB_URI) on loopback and ends by itself; writes
 * bench/results/commands.json.
 *
 *   tsx bench/commands.ts                      this checkout's lib/
 *   tsx bench/commands.ts --compare DIR        also another build's dist/index.js (DIR/dist)
 *
 * To compare with an earlier commit: `git worktree add /tmp/before <commit>`, link this
 * checkout's node_modules into it, `npm run build` there, then pass `--compare /tmp/before`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import express from 'express';
import session from 'express-session';
import { type CommandStartedEvent, MongoClient } from 'mongodb';
import { startDatabase } from '../scripts/database.js';
import { HttpClient, listen } from '../spec/support/http.js';

/** What is counted: commands a request's store calls send, by name. */
const COUNTED = new Set(['find', 'update', 'delete', 'insert']);

interface Counts {
  readonly [request: string]: Record<string, number>;
}

async function count(label: string, entry: string, uri: string): Promise<Counts> {
  // biome-ignore lint/suspicious/noExplicitAny: both builds' stores are used through express-session's interface only.
  const { MongoDBStore } = (await import(entry)) as { MongoDBStore: new (options: object) => any };
  const client = await new MongoClient(uri, { monitorCommands: true }).connect();
  const store = new MongoDBStore({ client, databaseName: 'bench_commands', collection: label });
  await store.repository?.whenIndexed?.();
  const app = express();
  app.use(
    session({
      store,
      secret: 'bench secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60 * 60 * 1000 },
    }),
  );
  app.get('/write', (req, res) => {
    const data = req.session as unknown as { views?: number };
    data.views = (data.views ?? 0) + 1;
    res.send('ok');
  });
  app.get('/read', (_req, res) => {
    res.send('ok');
  });
  app.post('/login', (req, res, next) => {
    req.session.regenerate((error) => {
      if (error) return next(error);
      (req.session as unknown as { user: string }).user = 'ada';
      res.send('ok');
    });
  });
  app.post('/logout', (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.send('ok')));
  });
  const server = await listen(app);
  const browser = new HttpClient(server.url);
  const sent: string[] = [];
  client.on('commandStarted', (event: CommandStartedEvent) => {
    if (COUNTED.has(event.commandName)) sent.push(event.commandName);
  });
  const measure = async (method: string, path: string) => {
    sent.length = 0;
    const response = await browser.request(method, path);
    if (response.status !== 200) throw new Error(`${method} ${path} answered ${response.status}`);
    // express-session saves after the response has gone: wait for the store's last command.
    await new Promise((done) => setTimeout(done, 200));
    const tally: Record<string, number> = {};
    for (const name of sent) tally[name] = (tally[name] ?? 0) + 1;
    return tally;
  };
  await measure('GET', '/write'); // the session exists from here on
  const counts = {
    read: await measure('GET', '/read'),
    write: await measure('GET', '/write'),
    login: await measure('POST', '/login'),
    logout: await measure('POST', '/logout'),
  };
  await server.close();
  await store.close();
  await client.db('bench_commands').dropDatabase();
  await client.close();
  return counts;
}

const { values } = parseArgs({ options: { compare: { type: 'string' } } });
const database = await startDatabase();
try {
  const results: Record<string, Counts> = {
    current: await count('current', pathToFileURL(resolve('lib/index.ts')).href, database.uri),
  };
  if (values.compare !== undefined) {
    const entry = pathToFileURL(join(resolve(values.compare), 'dist', 'index.js')).href;
    results.compare = await count('compare', entry, database.uri);
  }
  const output = { date: new Date().toISOString(), database: database.description, results };
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/commands.json', `${JSON.stringify(output, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
} finally {
  await database.stop();
}
