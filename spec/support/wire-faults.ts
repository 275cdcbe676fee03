/**
 * A loopback proxy that speaks enough of the MongoDB wire protocol to answer chosen commands
 * itself: the store talks to a real server, and a spec makes that server seem to give answers
 * the test server never gives (index conflicts, authorization failures, a primary stepping down).
 *
 * Client → server traffic is split into whole messages. An OP_MSG whose command matches an
 * injected fault is not forwarded: the client gets the fault's reply instead, as an OP_MSG
 * answering that request. Everything else (OP_QUERY, OP_COMPRESSED, OP_MSG with a checksum or
 * with the moreToCome / exhaustAllowed flags) is forwarded byte for byte and never faulted.
 * Server → client traffic is piped through untouched. The driver waits for each reply before it
 * sends the next request on a connection, so a fault's reply never overtakes a forwarded one.
 *
 * Underneath, `startWireProxy` is the same proxy with the decision left to hooks: a hook may
 * answer any command, `hello` included (an OP_REPLY to the driver's opening OP_QUERY, a stream
 * of replies to an awaitable `hello`), hang a connection up mid-message, or stop listening and
 * listen again. spec/support/replica-set.ts builds a simulated replica set on it.
 */
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { BSON, type Document } from 'mongodb';
import { listen, portOf } from './tcp-proxy.js';

export interface CommandFault {
  /** Which command: matched on the command's first key (e.g. 'createIndexes', 'collMod', 'delete'). */
  readonly command: string;
  /**
   * Optional finer match on the command document (e.g. only createIndexes whose first index has
   * expireAfterSeconds). Document sequences are merged in: a `delete` sent with its `deletes` as
   * a sequence has them in `body.deletes`.
   */
  readonly when?: (body: Document) => boolean;
  /**
   * The reply document sent instead of forwarding, e.g.
   * `{ ok: 0, code: 85, codeName: 'IndexOptionsConflict', errmsg: '...' }`; or a function of the
   * command body.
   */
  readonly reply: Document | ((body: Document) => Document);
  /** How many times (default: every time until removed). */
  readonly times?: number;
}

export interface SeenCommand {
  /** The command's first key, e.g. 'insert'. */
  readonly name: string;
  /** The command document, with its document sequences (if any) merged in as arrays. */
  readonly body: Document;
  /** The identifiers of the document sequences the command came with (e.g. ['deletes']). */
  readonly documentSequences: readonly string[];
  readonly answeredBy: 'server' | 'fault';
}

export interface WireFaultProxy {
  readonly port: number;
  /** The target's connection string pointed at the proxy, with `directConnection=true`. */
  readonly uri: string;
  /**
   * Answers the matching commands with `fault.reply` from now on, the first injected matching
   * fault winning; returns a function that removes the fault (a no-op once `times` ran out).
   */
  inject(fault: CommandFault): () => void;
  /**
   * Arms a hang-up (see `ProxiedConnection.hangUp`) for the next client message of at least
   * `minBytes`, as soon as its header arrives: a client writing a message larger than the socket
   * buffers (a few MB on loopback) sees `EPIPE` while writing it, as from a server that closed
   * the connection under it. The message is neither forwarded nor seen.
   */
  hangUpDuringNextMessage(minBytes: number): void;
  /** Every command that passed through, in order (name + body), for assertions. */
  readonly seen: ReadonlyArray<SeenCommand>;
  /** Stops listening and destroys every forwarded connection. */
  close(): Promise<void>;
}

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const HEADER_BYTES = 16;
const CHECKSUM_PRESENT = 1 << 0;
const MORE_TO_COME = 1 << 1;
const EXHAUST_ALLOWED = 1 << 16;
/** OP_REPLY's responseFlags bit that every server since 1.6 sets. */
const AWAIT_CAPABLE = 1 << 3;
/** Larger than any message a server accepts (48 MB): a longer length means the stream is garbled. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Request ids of the proxy's own replies; far from the driver's, which count up from 1. */
let nextRequestId = 0x40000000;

/** Forwards a loopback port to the first host of `targetUri`, answering injected faults itself. */
export async function startWireFaultProxy(targetUri: string): Promise<WireFaultProxy> {
  const target = parseTarget(targetUri);
  const faults: { fault: CommandFault; remaining: number }[] = [];
  const seen: SeenCommand[] = [];
  let hangUpFrom: number | undefined;

  const takeFault = (request: WireRequest): CommandFault | undefined => {
    const index = faults.findIndex(
      ({ fault }) =>
        fault.command === request.name && (fault.when === undefined || fault.when(request.body)),
    );
    const entry = faults[index];
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) faults.splice(index, 1);
    return entry.fault;
  };

  /** Handles one whole client message: forwards it, or answers it with a fault's reply. */
  const relay = (message: ClientMessage, connection: ProxiedConnection) => {
    const { request } = message;
    if (request === undefined) {
      connection.forward(message);
      return;
    }
    let reply: Document | undefined;
    try {
      const fault = request.faultable ? takeFault(request) : undefined;
      if (fault !== undefined)
        reply = typeof fault.reply === 'function' ? fault.reply(request.body) : fault.reply;
    } catch (error) {
      // A broken `when` or `reply` fails the one operation, with the reason, not the test run.
      reply = { ok: 0, code: 1, codeName: 'InternalError', errmsg: `wire fault threw: ${error}` };
    }
    const { name, body, documentSequences } = request;
    seen.push({
      name,
      body,
      documentSequences,
      answeredBy: reply === undefined ? 'server' : 'fault',
    });
    if (reply === undefined) connection.forward(message);
    else connection.answer(message, reply);
  };

  const proxy = await startWireProxy(targetUri, {
    message: relay,
    header: (length, connection) => {
      if (hangUpFrom === undefined || length < hangUpFrom) return;
      hangUpFrom = undefined;
      connection.hangUp();
    },
  });

  return {
    port: proxy.port,
    uri: target.uriThrough(proxy.port),
    inject: (fault) => {
      const entry = { fault, remaining: fault.times ?? Number.POSITIVE_INFINITY };
      faults.push(entry);
      return () => {
        const index = faults.indexOf(entry);
        if (index !== -1) faults.splice(index, 1);
      };
    },
    hangUpDuringNextMessage: (minBytes) => {
      hangUpFrom = minBytes;
    },
    seen,
    close: () => proxy.close(),
  };
}

/** A command a client message carries, as the proxy reads it. */
export interface WireRequest {
  /** The command's first key, e.g. 'find' or 'hello'. */
  readonly name: string;
  /** The command document, with its document sequences (if any) merged in as arrays. */
  readonly body: Document;
  readonly documentSequences: readonly string[];
  /** Whether the proxy may answer it: an OP_MSG without checksum, moreToCome or exhaustAllowed. */
  readonly faultable: boolean;
  /** Whether it came as a legacy OP_QUERY (the driver's first `hello`), answered with an OP_REPLY. */
  readonly legacy: boolean;
  /** Whether an OP_MSG allows a stream of replies (the flag of an awaitable `hello`). */
  readonly exhaustAllowed: boolean;
}

/** One whole message a client sent through a wire proxy. */
export interface ClientMessage {
  /** The message as sent, header included. */
  readonly bytes: Buffer;
  /** The header's requestID, which the reply's responseTo names. */
  readonly requestId: number;
  /** The command it carries; undefined for a message the proxy does not read (OP_COMPRESSED…). */
  readonly request: WireRequest | undefined;
}

/** A client's connection through a wire proxy, with its own connection to the server. */
export interface ProxiedConnection {
  /** Whether the client is still connected. */
  readonly open: boolean;
  /** Sends `message` on to the server; the server's reply goes back untouched. */
  forward(message: ClientMessage): void;
  /**
   * Answers `message` with `reply` in its place: an OP_REPLY to an OP_QUERY, else an OP_MSG,
   * with the moreToCome flag when more replies follow (answer the next one to the request id
   * returned, as a server streaming replies does). Returns the reply's request id.
   */
  answer(
    message: ClientMessage | { readonly requestId: number; readonly legacy?: boolean },
    reply: Document,
    options?: { readonly moreToCome?: boolean },
  ): number;
  /**
   * Closes the connection as a server that closes it while the client is still sending (a
   * step-down of an old server, a shutdown): reading stops, the proxy's end closes (FIN), then
   * the connection is reset. A client still writing a message (one larger than the socket
   * buffers) sees its write fail with `EPIPE`.
   */
  hangUp(): void;
  /** Destroys both ends at once, as the death of the server's process does. */
  destroy(): void;
  /**
   * Stops reading what the client sends and passing the server's replies on, as a stopped
   * process would (the connection stays open; the kernel buffers); `release()` goes on. What
   * the hooks write meanwhile still goes out: a hook that plays a stopped process holds it too.
   */
  hold(): void;
  release(): void;
  /** Calls `listener` once the connection has closed (at once if it has). */
  onClose(listener: () => void): void;
}

export interface WireProxyHooks {
  /** Every whole client message: the hook forwards it, answers it, or drops it. */
  readonly message: (message: ClientMessage, connection: ProxiedConnection) => void;
  /** The length a message's header announces, as soon as it arrives, before the rest of it. */
  readonly header?: (length: number, connection: ProxiedConnection) => void;
}

/** A loopback port whose connections each get a connection to the target, and hooks that decide. */
export interface WireProxy {
  readonly port: number;
  /** The connections open now. */
  readonly connections: ReadonlySet<ProxiedConnection>;
  /** Stops listening: new connections are refused (`ECONNREFUSED`); open ones stay as they are. */
  refuse(): Promise<void>;
  /** Listens again, on the same port. */
  accept(): Promise<void>;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/** How long a hung-up connection stays half-closed before its reset. */
const HANG_UP_RESET_MS = 20;

/**
 * Listens on a loopback port (`port`, or any free one) and gives every client connection its own
 * connection to the first host of `targetUri`; `hooks.message` decides what each whole client
 * message becomes. Server → client traffic is piped through untouched.
 */
export async function startWireProxy(
  targetUri: string,
  hooks: WireProxyHooks,
  port = 0,
): Promise<WireProxy> {
  const target = parseTarget(targetUri);
  const connections = new Set<ProxiedConnection>();
  const server = createServer((client) => {
    const connection = proxiedConnection(client, tcpConnect(target.port, target.host), hooks);
    connections.add(connection);
    connection.onClose(() => connections.delete(connection));
  });
  await listen(server, port);
  const boundPort = portOf(server);
  let closed = false;
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (server.listening) server.close(() => resolve());
      else resolve();
    });
  return {
    port: boundPort,
    connections,
    refuse: stopListening,
    accept: async () => {
      if (closed || server.listening) return;
      await listen(server, boundPort);
      // Closed while it was starting to listen again: nothing may stay open.
      if (closed) await stopListening();
    },
    close: () => {
      closed = true;
      for (const connection of connections) connection.destroy();
      return stopListening();
    },
  };
}

function proxiedConnection(client: Socket, upstream: Socket, hooks: WireProxyHooks) {
  const closeListeners: (() => void)[] = [];
  let closed = false;
  /** Set once the proxy has stopped reading this client (a hang-up). */
  let stopped = false;
  let held = false;
  const onClosed = () => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners.splice(0)) listener();
  };
  for (const socket of [client, upstream]) {
    socket.setNoDelay(true);
    // 'close' follows every 'error'; either end closing takes the other with it, but for a
    // hang-up, whose timer ends the client's side.
    socket.on('error', () => {});
    socket.on('close', () => {
      upstream.destroy();
      if (!stopped) client.destroy();
    });
  }
  client.on('close', onClosed);

  const connection: ProxiedConnection = {
    get open() {
      return !closed && !stopped && client.writable;
    },
    forward: (message) => {
      upstream.write(message.bytes);
    },
    answer: (message, reply, options = {}) => {
      const requestId = nextRequestId++;
      const legacy = 'request' in message ? message.request?.legacy === true : message.legacy;
      const bytes = legacy
        ? opReply(requestId, message.requestId, reply)
        : opMsgReply(requestId, message.requestId, reply, options.moreToCome === true);
      if (!stopped && client.writable) client.write(bytes);
      return requestId;
    },
    hangUp: () => {
      if (stopped || closed) return;
      stopped = true;
      client.pause();
      upstream.destroy();
      client.end();
      setTimeout(() => client.resetAndDestroy(), HANG_UP_RESET_MS);
    },
    destroy: () => {
      stopped = true;
      client.destroy();
      upstream.destroy();
    },
    hold: () => {
      if (held || stopped) return;
      held = true;
      client.pause();
      upstream.unpipe(client);
      upstream.pause();
    },
    release: () => {
      if (!held) return;
      held = false;
      if (stopped) return;
      upstream.pipe(client, { end: false });
      client.resume();
      drain();
    },
    onClose: (listener) => {
      if (closed) listener();
      else closeListeners.push(listener);
    },
  };

  // Whole messages are cut from the chunks received, copying each message once.
  let chunks: Buffer[] = [];
  let buffered = 0;
  let announced = false;
  /** Hands on every whole message received, unless the connection is held or stopped. */
  const drain = () => {
    while (buffered >= 4 && !stopped && !held) {
      if ((chunks[0]?.length ?? 0) < 4) chunks = [Buffer.concat(chunks, buffered)];
      const length = chunks[0]?.readInt32LE(0) ?? 0;
      if (length < HEADER_BYTES || length > MAX_MESSAGE_BYTES) {
        // Garbled: nothing more on this connection can be read.
        connection.destroy();
        return;
      }
      if (!announced) {
        announced = true;
        hooks.header?.(length, connection);
        if (stopped) return;
      }
      if (buffered < length) return;
      const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, buffered);
      const rest = all.subarray(length);
      chunks = rest.length === 0 ? [] : [rest];
      buffered = rest.length;
      announced = false;
      const bytes = all.subarray(0, length);
      hooks.message(
        { bytes, requestId: bytes.readInt32LE(4), request: readRequest(bytes) },
        connection,
      );
    }
  };
  client.on('data', (chunk: Buffer) => {
    if (stopped) return;
    chunks.push(chunk);
    buffered += chunk.length;
    drain();
  });
  upstream.pipe(client, { end: false });
  return connection;
}

/** The command a client message carries, or undefined for one the proxy does not read. */
function readRequest(message: Buffer): WireRequest | undefined {
  try {
    const opCode = message.readInt32LE(12);
    if (opCode === OP_MSG) return readOpMsg(message);
    if (opCode === OP_QUERY) return readOpQuery(message);
  } catch {
    // Unreadable: forwarded as it is, for the server to judge.
  }
  return undefined;
}

function readOpMsg(message: Buffer): WireRequest | undefined {
  const flags = message.readUInt32LE(HEADER_BYTES);
  const end = flags & CHECKSUM_PRESENT ? message.length - 4 : message.length;
  let offset = HEADER_BYTES + 4;
  let command: Document | undefined;
  const sequences: [string, Document[]][] = [];
  while (offset < end) {
    const kind = message.readUInt8(offset);
    offset += 1;
    const size = message.readInt32LE(offset);
    if (kind === 0) {
      command = BSON.deserialize(message.subarray(offset, offset + size));
    } else if (kind === 1) {
      const nameEnd = message.indexOf(0, offset + 4);
      const documents: Document[] = [];
      for (let at = nameEnd + 1; at < offset + size; at += message.readInt32LE(at)) {
        documents.push(BSON.deserialize(message.subarray(at, at + message.readInt32LE(at))));
      }
      sequences.push([message.toString('utf8', offset + 4, nameEnd), documents]);
    } else {
      return undefined;
    }
    offset += size;
  }
  if (command === undefined) return undefined;
  return {
    name: Object.keys(command)[0] ?? '',
    body: { ...command, ...Object.fromEntries(sequences) },
    documentSequences: sequences.map(([identifier]) => identifier),
    faultable: (flags & (CHECKSUM_PRESENT | MORE_TO_COME | EXHAUST_ALLOWED)) === 0,
    legacy: false,
    exhaustAllowed: (flags & EXHAUST_ALLOWED) !== 0,
  };
}

/** The legacy opening `hello`: flags, collection name, skip, return count, then the query. */
function readOpQuery(message: Buffer): WireRequest {
  const at = message.indexOf(0, HEADER_BYTES + 4) + 1 + 8;
  const query = BSON.deserialize(message.subarray(at, at + message.readInt32LE(at)));
  const body: Document = typeof query.$query === 'object' ? query.$query : query;
  return {
    name: Object.keys(body)[0] ?? '',
    body,
    documentSequences: [],
    faultable: false,
    legacy: true,
    exhaustAllowed: false,
  };
}

/** An OP_MSG answering request `responseTo` with `reply` as its one document. */
function opMsgReply(
  requestId: number,
  responseTo: number,
  reply: Document,
  moreToCome: boolean,
): Buffer {
  const document = BSON.serialize(reply);
  const head = Buffer.alloc(HEADER_BYTES + 5);
  head.writeInt32LE(head.length + document.length, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(responseTo, 8);
  head.writeInt32LE(OP_MSG, 12);
  head.writeUInt32LE(moreToCome ? MORE_TO_COME : 0, HEADER_BYTES); // flagBits
  head.writeUInt8(0, HEADER_BYTES + 4); // section kind 0: one document
  return Buffer.concat([head, document]);
}

/** An OP_REPLY answering the OP_QUERY `responseTo` with `reply` as its one document. */
function opReply(requestId: number, responseTo: number, reply: Document): Buffer {
  const document = BSON.serialize(reply);
  const head = Buffer.alloc(HEADER_BYTES + 20);
  head.writeInt32LE(head.length + document.length, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(responseTo, 8);
  head.writeInt32LE(OP_REPLY, 12);
  head.writeInt32LE(AWAIT_CAPABLE, HEADER_BYTES); // responseFlags, as servers set them
  head.writeBigInt64LE(0n, HEADER_BYTES + 4); // cursorID
  head.writeInt32LE(0, HEADER_BYTES + 12); // startingFrom
  head.writeInt32LE(1, HEADER_BYTES + 16); // numberReturned
  return Buffer.concat([head, document]);
}

/** The first host of a `mongodb://` string, and how to say the same string through the proxy. */
function parseTarget(uri: string) {
  const match = /^mongodb:\/\/(?:([^@/?]*)@)?([^/?]+)(\/[^?]*)?(?:\?(.*))?$/.exec(uri);
  if (match === null) {
    throw new Error(`The wire-fault proxy needs a mongodb:// connection string, not ${uri}`);
  }
  const [, userInfo, hosts = '', path = '/', query = ''] = match;
  const options = new URLSearchParams(query);
  for (const tls of ['tls', 'ssl']) {
    if (options.get(tls) === 'true') {
      throw new Error('The wire-fault proxy reads plain TCP: it cannot sit in front of TLS');
    }
  }
  const first = hosts.split(',')[0] ?? '';
  const hostAndPort = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(first);
  if (hostAndPort === null) throw new Error(`Cannot read the host of ${uri}`);
  const [, ipv6, name, port = '27017'] = hostAndPort;
  // One server behind one port: the driver must not go looking for the others it is told of.
  options.delete('replicaSet');
  options.set('directConnection', 'true');
  return {
    host: ipv6 ?? name ?? '',
    port: Number(port),
    uriThrough: (proxyPort: number) =>
      `mongodb://${userInfo === undefined ? '' : `${userInfo}@`}127.0.0.1:${proxyPort}${path}?${options}`,
  };
}
