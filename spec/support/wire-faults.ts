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
  /** Every command that passed through, in order (name + body), for assertions. */
  readonly seen: ReadonlyArray<SeenCommand>;
  /** Stops listening and destroys every forwarded connection. */
  close(): Promise<void>;
}

const OP_QUERY = 2004;
const OP_MSG = 2013;
const HEADER_BYTES = 16;
const CHECKSUM_PRESENT = 1 << 0;
const MORE_TO_COME = 1 << 1;
const EXHAUST_ALLOWED = 1 << 16;
/** Larger than any message a server accepts (48 MB): a longer length means the stream is garbled. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Request ids of the proxy's own replies; far from the driver's, which count up from 1. */
let nextRequestId = 0x40000000;

/** Forwards a loopback port to the first host of `targetUri`, answering injected faults itself. */
export async function startWireFaultProxy(targetUri: string): Promise<WireFaultProxy> {
  const target = parseTarget(targetUri);
  const faults: { fault: CommandFault; remaining: number }[] = [];
  const seen: SeenCommand[] = [];
  const sockets = new Set<Socket>();

  const takeFault = (request: Request): CommandFault | undefined => {
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
  const relay = (message: Buffer, client: Socket, upstream: Socket) => {
    const request = readRequest(message);
    if (request === undefined) {
      upstream.write(message);
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
    if (reply === undefined) upstream.write(message);
    else if (client.writable) client.write(opMsgReply(message.readInt32LE(4), reply));
  };

  const server = createServer((client) => {
    const upstream = tcpConnect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      // 'close' follows every 'error'; either end closing takes the other with it.
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    let pending: Buffer = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const length = pending.readInt32LE(0);
        if (length < HEADER_BYTES || length > MAX_MESSAGE_BYTES) {
          client.destroy();
          return;
        }
        if (pending.length < length) return;
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        relay(message, client, upstream);
      }
    });
    upstream.pipe(client);
  });
  await listen(server, 0);
  const port = portOf(server);

  return {
    port,
    uri: target.uriThrough(port),
    inject: (fault) => {
      const entry = { fault, remaining: fault.times ?? Number.POSITIVE_INFINITY };
      faults.push(entry);
      return () => {
        const index = faults.indexOf(entry);
        if (index !== -1) faults.splice(index, 1);
      };
    },
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Request {
  readonly name: string;
  readonly body: Document;
  readonly documentSequences: readonly string[];
  /** Whether the proxy may answer it: an OP_MSG without checksum, moreToCome or exhaustAllowed. */
  readonly faultable: boolean;
}

/** The command a client message carries, or undefined for one the proxy does not read. */
function readRequest(message: Buffer): Request | undefined {
  try {
    const opCode = message.readInt32LE(12);
    if (opCode === OP_MSG) return readOpMsg(message);
    if (opCode === OP_QUERY) return readOpQuery(message);
  } catch {
    // Unreadable: forwarded as it is, for the server to judge.
  }
  return undefined;
}

function readOpMsg(message: Buffer): Request | undefined {
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
  };
}

/** The legacy opening `hello`: flags, collection name, skip, return count, then the query. */
function readOpQuery(message: Buffer): Request {
  const at = message.indexOf(0, HEADER_BYTES + 4) + 1 + 8;
  const query = BSON.deserialize(message.subarray(at, at + message.readInt32LE(at)));
  const body: Document = typeof query.$query === 'object' ? query.$query : query;
  return { name: Object.keys(body)[0] ?? '', body, documentSequences: [], faultable: false };
}

/** An OP_MSG answering request `responseTo` with `reply` as its one document. */
function opMsgReply(responseTo: number, reply: Document): Buffer {
  const document = BSON.serialize(reply);
  const head = Buffer.alloc(HEADER_BYTES + 5);
  head.writeInt32LE(head.length + document.length, 0);
  head.writeInt32LE(nextRequestId++, 4);
  head.writeInt32LE(responseTo, 8);
  head.writeInt32LE(OP_MSG, 12);
  head.writeUInt32LE(0, HEADER_BYTES); // flagBits
  head.writeUInt8(0, HEADER_BYTES + 4); // section kind 0: one document
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
