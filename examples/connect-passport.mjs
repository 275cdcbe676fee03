/**
 * Connect (no Express) with express-session and passport's local strategy, on MongoDBStore. A
 * page counts an anonymous visitor's views; logging in gives a new session id (passport
 * regenerates the session, and the old id ends for good in the store); `/profile` needs a login;
 * logging out ends the session too. One user, in memory: ann, password `correct horse`.
 *
 *   MONGODB_URI=mongodb://127.0.0.1:27017/ PORT=3000 node examples/connect-passport.mjs
 *
 *   curl -c jar -b jar http://127.0.0.1:3000/
 *   curl -c jar -b jar -d 'username=ann&password=correct horse' http://127.0.0.1:3000/login
 *   curl -c jar -b jar http://127.0.0.1:3000/profile
 *   curl -c jar -b jar -X POST http://127.0.0.1:3000/logout
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import connect from 'connect';
import { MongoDBStore } from 'connect-mongodb-session';
import session from 'express-session';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';

// The in-memory user: a real app reads users from its database, with the same salted hash.
const salt = randomBytes(16);
const hashOf = (password) => scryptSync(password, salt, 32);
const users = new Map([
  ['ann', { id: '1', username: 'ann', passwordHash: hashOf('correct horse') }],
]);
const userById = (id) => [...users.values()].find((user) => user.id === id);

passport.use(
  new LocalStrategy((username, password, done) => {
    const user = users.get(username);
    const matches = user !== undefined && timingSafeEqual(hashOf(password), user.passwordHash);
    done(null, matches ? user : false);
  }),
);
// The session holds the user's id only; each request looks the user up again.
passport.serializeUser((user, done) => done(null, user.id));
passport.deserializeUser((id, done) => done(null, userById(id) ?? false));

const store = new MongoDBStore({
  uri: process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/',
  databaseName: 'example_connect_passport',
});
store.on('error', (error) => console.error(`Session store: ${error.message}`));

/** Connect has no body parser: a login form is small, so it is read whole. */
function formBody(req, _res, next) {
  if (!req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) return next();
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    text += chunk;
    if (text.length > 10_000) req.destroy();
  });
  req.on('end', () => {
    req.body = Object.fromEntries(new URLSearchParams(text));
    next();
  });
}

/** Connect's responses are Node's: no `res.json` or `res.redirect`. */
function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(body);
}

const app = connect();
app.use(
  session({
    store,
    secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('hex'),
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 24 * 60 * 60 * 1000, httpOnly: true, sameSite: 'lax' },
  }),
);
app.use(passport.session());
app.use(formBody);

app.use('/login', (req, res, next) => {
  if (req.method !== 'POST') return send(res, 405, 'POST a username and a password');
  // A callback, since passport's redirect options need Express's `res.redirect`.
  passport.authenticate('local', (error, user) => {
    if (error) return next(error);
    if (!user) return send(res, 401, 'Wrong username or password');
    // req.logIn regenerates the session: a new id, and the old one ends in the store.
    req.logIn(user, (loginError) => {
      if (loginError) return next(loginError);
      send(res, 302, 'Logged in', { location: '/profile' });
    });
  })(req, res, next);
});

app.use('/profile', (req, res) => {
  if (!req.isAuthenticated()) return send(res, 401, 'Log in first');
  send(res, 200, `Logged in as ${req.user.username}`);
});

app.use('/logout', (req, res, next) => {
  if (req.method !== 'POST') return send(res, 405, 'POST to log out');
  // req.logout regenerates the session too: the logged-in id ends in the store.
  req.logout((error) => {
    if (error) return next(error);
    send(res, 302, 'Logged out', { location: '/' });
  });
});

app.use('/', (req, res) => {
  if (req.url !== '/') return send(res, 404, 'Not found');
  if (req.isAuthenticated()) return send(res, 200, `Hello, ${req.user.username}`);
  req.session.views = (req.session.views ?? 0) + 1;
  send(res, 200, `Views before logging in: ${req.session.views}`);
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`Connect and passport example on http://127.0.0.1:${server.address().port}/`);
});

async function shutdown() {
  server.close();
  await store.close();
  process.exit(0);
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
