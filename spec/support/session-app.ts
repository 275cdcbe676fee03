/**
 * The Express app of the fault specs: every `POST /sessions` creates a session and saves it
 * before answering, so that a 200 means the store acknowledged the write; `GET /sessions/current`
 * reads the session of the cookie sent. Errors of the store reach express-session's `next(err)`
 * and the app's error handler, which answers 500 with the error's `code`.
 */
import { createHmac } from 'node:crypto';
import type { TestContext } from 'node:test';
import express from 'express';
import session from 'express-session';
import type { MongoDBStore } from '../../lib/index.js';
import { listen } from './http.js';

declare module 'express-session' {
  interface SessionData {
    n?: number;
  }
}

export const COOKIE = 'connect.sid';
const SECRET = 'fault spec secret';

/** What `POST /sessions` answers: the new session's id and its number. */
export interface CreatedSession {
  readonly id: string;
  readonly n: number;
}

/** What the error handler answers. */
export interface ErrorReply {
  readonly error: string;
  readonly code: string | null;
}

export interface SessionApp {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every error the app's error handler received, in order. */
  readonly errors: readonly unknown[];
}

/** Serves the app with `store` on a free loopback port until `t` ends. */
export async function startSessionApp(t: TestContext, store: MongoDBStore): Promise<SessionApp> {
  const errors: unknown[] = [];
  let created = 0;
  const app = express();
  app.use(
    session({
      store,
      secret: SECRET,
      name: COOKIE,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60 * 60 * 1000, httpOnly: true },
    }),
  );
  app.post('/sessions', (req, res, next) => {
    created += 1;
    const n = created;
    req.session.n = n;
    // Saved before answering (express-session would otherwise send the status line first).
    req.session.save((error) => {
      if (error) next(error);
      else res.json({ id: req.sessionID, n } satisfies CreatedSession);
    });
  });
  app.get('/sessions/current', (req, res) => {
    res.json({ id: req.sessionID, n: req.session.n ?? null });
  });
  app.use(
    (error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      errors.push(error);
      const code = (error as { code?: unknown } | null)?.code;
      res.status(500).json({
        error: error instanceof Error ? error.name : typeof error,
        code: typeof code === 'string' ? code : null,
      } satisfies ErrorReply);
    },
  );
  const server = await listen(app);
  t.after(() => server.close());
  return { url: server.url, errors };
}

/** The cookie value (URL-encoded) of session `sid`, signed as express-session signs it. */
export function signedCookieValue(sid: string): string {
  const signature = createHmac('sha256', SECRET).update(sid).digest('base64').replace(/=+$/, '');
  return encodeURIComponent(`s:${sid}.${signature}`);
}
