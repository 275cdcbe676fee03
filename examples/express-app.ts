/**
 * The example app: a visit counter per session, log in (with `regenerate`) and log out
 * (`destroy`), on express-session with MongoDBStore. `npm start` runs it on the embedded test
 * database (or on MONGODB_URI); PORT picks the port (default 3000).
 */
import { randomBytes } from 'node:crypto';
import { MongoDBStore } from 'connect-mongodb-session';
import express from 'express';
import session from 'express-session';
import { startDatabase } from '../scripts/database.js';

declare module 'express-session' {
  interface SessionData {
    views?: number;
    user?: string;
  }
}

const database = await startDatabase();
console.log(`Database: ${database.description}`);

const store = new MongoDBStore({
  uri: database.uri,
  databaseName: 'example_app',
  collection: 'sessions',
});
store.on('error', (error: Error) => console.error(`Session store: ${error.message}`));

const app = express();
app.use(express.urlencoded({ extended: false }));
app.use(
  session({
    store,
    secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('hex'),
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 24 * 60 * 60 * 1000, httpOnly: true, sameSite: 'lax' },
  }),
);

app.get('/', (req, res) => {
  req.session.views = (req.session.views ?? 0) + 1;
  const who = req.session.user === undefined ? 'nobody' : escapeHtml(req.session.user);
  res.type('html').send(`<!doctype html>
<title>connect-mongodb-session example</title>
<p>Visits in this session: <strong>${req.session.views}</strong></p>
<p>Logged in as: <strong>${who}</strong></p>
<form method="post" action="/login"><input name="user" placeholder="name" required> <button>Log in</button></form>
<form method="post" action="/logout"><button>Log out</button></form>`);
});

app.post('/login', (req, res, next) => {
  const user = typeof req.body?.user === 'string' ? req.body.user.trim().slice(0, 64) : '';
  if (user === '') {
    res.status(400).send('A name is required');
    return;
  }
  // A new session id at log in, so that an id planted before it is worth nothing afterwards.
  req.session.regenerate((error) => {
    if (error) return next(error);
    req.session.user = user;
    req.session.save((saveError) => (saveError ? next(saveError) : res.redirect('/')));
  });
});

app.post('/logout', (req, res, next) => {
  req.session.destroy((error) => {
    if (error) return next(error);
    res.clearCookie('connect.sid');
    res.redirect('/');
  });
});

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, '127.0.0.1', () => {
  // The port actually bound: PORT=0 asks for a free one.
  const { port: bound } = server.address() as { port: number };
  console.log(`Example app listening on http://127.0.0.1:${bound}/ (Ctrl+C to stop)`);
});

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.close();
  await store.close();
  await database.stop();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
