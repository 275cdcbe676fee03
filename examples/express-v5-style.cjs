/**
 * Express in CommonJS, written as for version 5: the factory `require('connect-mongodb-session')(session)`,
 * the constructor callback, and an `error` listener. Runs unchanged on version 6.
 *
 *   MONGODB_URI=mongodb://127.0.0.1:27017/ PORT=3000 node examples/express-v5-style.cjs
 */
const express = require('express');
const session = require('express-session');
const MongoDBStore = require('connect-mongodb-session')(session);

const store = new MongoDBStore(
  {
    uri: process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/',
    databaseName: 'example_v5_style',
    collection: 'mySessions',
  },
  // Called once: with nothing when connected, with the error otherwise.
  (error) => {
    if (error) console.error(`Session store not connected: ${error.message}`);
    else console.log('Session store connected');
  },
);
// Failures no request hears of (an index, a timed sweep): without a listener they are process warnings.
store.on('error', (error) => console.error(`Session store: ${error.message}`));

const app = express();
app.use(
  session({
    store,
    secret: process.env.SESSION_SECRET ?? require('node:crypto').randomBytes(32).toString('hex'),
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 7 * 24 * 60 * 60 * 1000 },
  }),
);
app.get('/', (req, res) => {
  req.session.views = (req.session.views ?? 0) + 1;
  res.send(`Views: ${req.session.views}`);
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`Listening on http://127.0.0.1:${server.address().port}/`);
});

process.once('SIGTERM', () => {
  server.close();
  store.close().then(() => process.exit(0));
});
