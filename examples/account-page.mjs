/**
 * An account page's "devices" section: every session a user is logged in with, the current one
 * marked, "sign out this device" and "sign out everywhere else". Sessions are named by handles
 * (`store.listWhere`, `store.handleOf`), never by their cookies, and each sign-out is limited to
 * the user's own sessions by its filter, so a handle posted by someone else ends nothing.
 *
 *   MONGODB_URI=mongodb://127.0.0.1:27017/ PORT=3000 node examples/account-page.mjs
 *
 *   curl -c jar -b jar -X POST 'http://127.0.0.1:3000/login?user=ann'
 *   curl -c jar -b jar http://127.0.0.1:3000/devices
 *   curl -c jar -b jar -X POST http://127.0.0.1:3000/devices/<handle>/sign-out
 *   curl -c jar -b jar -X POST http://127.0.0.1:3000/devices/sign-out-others
 *   curl -c jar -b jar -X POST http://127.0.0.1:3000/logout
 */
import { randomBytes } from 'node:crypto';
import { MongoDBStore } from 'connect-mongodb-session';
import express from 'express';
import session from 'express-session';

const store = new MongoDBStore({
  uri: process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/',
  databaseName: 'example_account_page',
});
store.on('error', (error) => console.error(`Session store: ${error.message}`));
// A request of a session ended meanwhile (signed out from another device) tried to save it.
store.on('refused', (_sid, operation) => console.log(`refused a ${operation} of an ended session`));

const app = express();
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
  const user = req.session.user;
  res.json({ loggedInAs: user?.name ?? null });
});

app.post('/login', (req, res, next) => {
  const name = typeof req.query.user === 'string' ? req.query.user : '';
  if (!/^[\w.-]{1,64}$/.test(name)) {
    res.status(400).json({ error: 'Give a user name: /login?user=ann' });
    return;
  }
  // A real app checks the password here. A new session id at login: the old one ends for good.
  req.session.regenerate((error) => {
    if (error) return next(error);
    req.session.user = { name };
    req.session.device = req.get('user-agent') ?? 'unknown';
    res.json({ loggedInAs: name });
  });
});

/** The routes below are for a logged-in user; each filters on that user's sessions. */
function ownSessions(req, res, next) {
  if (req.session.user === undefined) {
    res.status(401).json({ error: 'Not logged in' });
    return;
  }
  res.locals.mine = { 'user.name': req.session.user.name };
  next();
}

app.get('/devices', ownSessions, async (req, res) => {
  const current = store.handleOf(req.sessionID);
  const sessions = await store.listWhere(res.locals.mine);
  res.json(
    sessions.map(({ handle, session, createdAt, lastActiveAt, expires }) => ({
      handle,
      current: handle === current,
      device: session.device,
      createdAt,
      lastActiveAt,
      expires,
    })),
  );
});

app.post('/devices/sign-out-others', ownSessions, async (req, res) => {
  const except = store.handleOf(req.sessionID);
  const signedOut = await store.destroyWhere(res.locals.mine, { except });
  res.json({ signedOut });
});

app.post('/devices/:handle/sign-out', ownSessions, async (req, res) => {
  // The filter keeps a handle of someone else's session from ending anything.
  const signedOut = await store.destroyWhere(res.locals.mine, { only: req.params.handle });
  res.json({ signedOut });
});

app.post('/logout', (req, res, next) => {
  req.session.destroy((error) => {
    if (error) return next(error);
    res.clearCookie('connect.sid');
    res.json({ loggedInAs: null });
  });
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`Account page example on http://127.0.0.1:${server.address().port}/`);
});

async function shutdown() {
  server.close();
  await store.close();
  process.exit(0);
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
