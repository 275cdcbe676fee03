import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/** A loopback TCP forwarder: lets a spec make the database unreachable, then reachable again. */
export interface TcpProxy {
  readonly port: number;
  /**
   * Arms a fault: the next request any client sends is swallowed and its connection cut, as a
   * server dying mid-operation would, so that exactly that operation sees a network error.
   */
  cutNextRequest(): void;
  /** Swallows everything clients send from now on, as a frozen server would (connections stay open). */
  freeze(): void;
  /** Stops listening and cuts every forwarded connection. */
  close(): Promise<void>;
}

/** A loopback port nobody listens on (just now). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await listen(server, 0);
  const port = portOf(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Forwards 127.0.0.1:`port` (0 for any free one) to the host and port of `targetUri`. */
export async function startTcpProxy(targetUri: string, port = 0): Promise<TcpProxy> {
  const target = new URL(targetUri.replace(/^mongodb:/, 'http:'));
  const sockets = new Set<Socket>();
  let cutArmed = false;
  let frozen = false;
  const server = createServer((client) => {
    const upstream = tcpConnect(Number(target.port || 27017), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      if (frozen) return;
      if (cutArmed) {
        cutArmed = false;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await listen(server, port);
  return {
    port: portOf(server),
    cutNextRequest: () => {
      cutArmed = true;
    },
    freeze: () => {
      frozen = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Listens on 127.0.0.1:`port` (0 for any free one). */
export function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/** The port a listening server was given. */
export function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('server has no port');
  return address.port;
}
