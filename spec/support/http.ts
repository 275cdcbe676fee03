import { createServer, type IncomingHttpHeaders, type RequestListener, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The `Set-Cookie` headers of this response, as sent. */
  readonly setCookies: readonly string[];
}

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops listening and ends every open connection. */
  close(): Promise<void>;
}

/** Serves `app` on a free port of 127.0.0.1. */
export function listen(app: RequestListener): Promise<TestServer> {
  const server = createServer(app);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/**
 * A minimal browser: one cookie jar, one request per connection (no keep-alive, so servers
 * close at once). The jar ignores `Expires` and `Max-Age` (cookie dates have whole seconds
 * only, too coarse for short-lived specs): an expired cookie is still sent, so that specs can
 * check that the server refuses it. A cookie set to an empty value (as `res.clearCookie`
 * does) is dropped.
 */
export class HttpClient {
  readonly #baseUrl: string;
  readonly #cookies = new Map<string, string>();

  constructor(baseUrl: string) {
    this.#baseUrl = baseUrl;
  }

  /** The jar's value of cookie `name`, as the server set it (URL-encoded). */
  cookie(name: string): string | undefined {
    return this.#cookies.get(name);
  }

  /** Puts a cookie in the jar, as if the server had set it. */
  setCookie(name: string, value: string): void {
    this.#cookies.set(name, value);
  }

  get(path: string): Promise<HttpResponse> {
    return this.request('GET', path);
  }

  post(path: string): Promise<HttpResponse> {
    return this.request('POST', path);
  }

  request(method: string, path: string): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    if (this.#cookies.size > 0) {
      headers.cookie = [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    }
    return new Promise((resolve, reject) => {
      const outgoing = request(
        new URL(path, this.#baseUrl),
        { method, headers, agent: false, timeout: 10_000 },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.once('error', reject);
          response.once('end', () => {
            const setCookies = response.headers['set-cookie'] ?? [];
            for (const header of setCookies) this.#store(header);
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks).toString('utf8'),
              setCookies,
            });
          });
        },
      );
      outgoing.once('timeout', () => outgoing.destroy(new Error(`${method} ${path} timed out`)));
      outgoing.once('error', reject);
      outgoing.end();
    });
  }

  #store(header: string): void {
    const pair = header.split(';', 1)[0] ?? '';
    const separator = pair.indexOf('=');
    if (separator <= 0) return;
    const name = pair.slice(0, separator).trim();
    const value = pair.slice(separator + 1).trim();
    if (value === '') this.#cookies.delete(name);
    else this.#cookies.set(name, value);
  }
}

/** The session id inside an express-session cookie value (`s:<id>.<signature>`, URL-encoded). */
export function sessionIdOf(cookieValue: string | undefined): string {
  if (cookieValue === undefined) throw new Error('No session cookie was set');
  const decoded = decodeURIComponent(cookieValue);
  if (!decoded.startsWith('s:')) throw new Error(`Not a signed session cookie: ${decoded}`);
  return decoded.slice(2, decoded.lastIndexOf('.'));
}
