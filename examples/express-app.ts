/**
 * The example app: a visit counter per session, log in (with `regenerate`) and log out
 * (`destroy`), on express-session with MongoDBStore, on the server MONGODB_URI names (default
 * a MongoDB on this machine). `npm start` (scripts/start.ts) builds the package, starts a
 * database of its own and runs this app on it; PORT picks the port (default 3000).
 */
import { randomBytes } from 'node:crypto';
import { MongoDBStore } from 'connect-mongodb-session';
import express from 'express';
import session from 'express-session';

declare module 'express-session' {
  interface SessionData {
    views?: number;
    user?: string;
  }
}

const store = new MongoDBStore({
  uri: process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/',
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

// `on`, not `once`: a second signal during the shutdown must not kill the app halfway through.
let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.close();
  await store.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
