/**
 * A simulated replica set (or sharded cluster front) over ONE real server: each member is a
 * loopback wire proxy (spec/support/wire-faults.ts) on a port of its own, forwarding to the test
 * server, and answering `hello` itself with the topology the spec sets. Elections, step-downs,
 * crashes and frozen members change what the members answer, as a real set's members would:
 *
 * - `hello` (the driver's opening OP_QUERY, the awaitable `hello` of its streaming monitor, the
 *   round-trip pings) gives `setName`, `hosts`, `primary`, `isWritablePrimary`/`secondary`,
 *   `setVersion`, `electionId` and `topologyVersion` (new at each election), and the limits and
 *   wire versions of the real server. An awaitable `hello` answers at once when the client's
 *   `topologyVersion` is stale, else at the next change or after `maxAwaitTimeMS`, and goes on
 *   streaming replies (moreToCome) as a server does.
 * - On a member that is not primary, writes get `NotWritablePrimary` (10107, labelled
 *   `RetryableWriteError` when sent as a retryable write) and reads without `secondaryOk` (a
 *   `$readPreference` other than primary) get `NotPrimaryNoSecondaryOk` (13435); errors carry
 *   the member's `topologyVersion`, as those of servers since 4.4 do. Everything else is
 *   forwarded, to the same data: there is no replication lag and no rollback.
 * - `mode: 'mongos'`: members answer as routers (`msg: 'isdbgrid'`) and forward everything.
 *
 * Bounded: loopback only, every timer is cleared by `close()`, and each member keeps the last
 * `MAX_SEEN` commands it saw.
 */
import { type Document, Long, MongoClient, ObjectId } from 'mongodb';
import {
  type ClientMessage,
  type ProxiedConnection,
  startWireProxy,
  type WireProxy,
  type WireRequest,
} from './wire-faults.js';

export type MemberState = 'PRIMARY' | 'SECONDARY' | 'DOWN' | 'MONGOS';

/** A command a member saw (other than `hello` and the handshake's). */
export interface MemberCommand {
  readonly name: string;
  readonly body: Document;
  /** `performance.now()` when it arrived. */
  readonly at: number;
  /** `'server'` when forwarded, else the error code the member answered with. */
  readonly answeredBy: 'server' | number;
}

export interface ReplicaSetMember {
  readonly index: number;
  readonly port: number;
  /** `127.0.0.1:<port>`, as in `hosts`. */
  readonly host: string;
  readonly state: MemberState;
  /** The last commands this member saw, oldest first. */
  readonly seen: readonly MemberCommand[];
}

export interface Election {
  readonly primary: number;
  readonly term: number;
  /** `performance.now()` when it happened. */
  readonly at: number;
}

export interface ReplicaSetOptions {
  /** How many members. @default 3 */
  readonly members?: number;
  /** @default 'rs0' */
  readonly setName?: string;
  /** A replica set, or routers of a sharded cluster. @default 'replicaSet' */
  readonly mode?: 'replicaSet' | 'mongos';
}

export interface StepDownOptions {
  /** How long the set has no primary, in milliseconds. @default 0 */
  readonly noPrimaryMs?: number;
  /** Who is elected then. @default the next eligible member after the old primary */
  readonly next?: number;
  /**
   * Whether the old primary closes every connection as it steps down, as servers before 4.2
   * did (and as a shutdown does): a client writing a large command then sees `EPIPE`.
   * @default false
   */
  readonly closeConnections?: boolean;
}

export interface CrashOptions {
  /** How long the member refuses connections, in milliseconds. */
  readonly downMs: number;
  /**
   * For a crashed primary: how long until another member is elected, in milliseconds (a real
   * set's `electionTimeoutMillis`, 10 s by default, plus the election). @default 11_000
   */
  readonly electionAfterMs?: number;
}

export interface FreezeOptions {
  /** How long the member answers nothing, in milliseconds. */
  readonly forMs: number;
  /** For a frozen primary: as `CrashOptions.electionAfterMs`. @default 11_000 */
  readonly electionAfterMs?: number;
}

export interface SimulatedReplicaSet {
  /** `mongodb://127.0.0.1:p1,…/?replicaSet=<setName>` (no `replicaSet` in mongos mode). */
  readonly uri: string;
  readonly setName: string;
  readonly members: readonly ReplicaSetMember[];
  /** The primary now, if any. */
  readonly primary: ReplicaSetMember | undefined;
  /** Every election, in order; the first is the one at start. */
  readonly elections: readonly Election[];
  /** Makes member `index` primary now (the old primary, if any, steps down at once). */
  elect(index: number): Election;
  /**
   * The primary steps down now; after `noPrimaryMs`, another member is elected. Resolves with
   * that election (undefined if no member could be elected, or the set closed first).
   */
  stepDown(options?: StepDownOptions): Promise<Election | undefined>;
  /**
   * Member `index` crashes: its connections drop and new ones are refused for `downMs`, then it
   * comes back as a secondary (with a new process id). Had it been primary, another member is
   * elected after `electionAfterMs`. `election` resolves with that election (undefined for a
   * secondary's crash), `restarted` once the member accepts connections again.
   */
  crash(
    index: number,
    options: CrashOptions,
  ): { election: Promise<Election | undefined>; restarted: Promise<void> };
  /**
   * Member `index` freezes, as a stopped process (SIGSTOP, a paused VM): connections stay open,
   * new ones connect, nothing is answered (`hello` included) for `forMs`; then it answers what
   * waited. Had it been primary, another member is elected after `electionAfterMs`, and it thaws
   * as a secondary; thawed first, it is primary still. `election` resolves with the election
   * that ended the gap (the old one if the member thawed first; undefined for a secondary).
   */
  freeze(
    index: number,
    options: FreezeOptions,
  ): { election: Promise<Election | undefined>; thawed: Promise<void> };
  /** `replSetFreeze`: member `index` (not the primary) may not be elected for `ms` (0 thaws it). */
  replSetFreeze(index: number, ms: number): void;
  /** Stops every member and clears every timer. */
  close(): Promise<void>;
}

/** How many commands each member remembers. */
const MAX_SEEN = 5_000;
/** While no member can be elected, how often the others try again. */
const ELECTION_RETRY_MS = 250;
/** What the awaitable `hello` waits at most when the client names no `maxAwaitTimeMS`. */
const DEFAULT_MAX_AWAIT_MS = 10_000;

const HELLO = new Set(['hello', 'isMaster', 'ismaster']);
/** Commands a secondary refuses with `NotWritablePrimary`. */
const WRITES = new Set([
  'insert',
  'update',
  'delete',
  'findAndModify',
  'findandmodify',
  'createIndexes',
  'dropIndexes',
  'drop',
  'dropDatabase',
  'create',
  'collMod',
  'renameCollection',
]);
/** Commands a secondary serves only with `secondaryOk`. */
const READS = new Set([
  'find',
  'aggregate',
  'count',
  'distinct',
  'listIndexes',
  'listCollections',
  'dbStats',
  'collStats',
]);
/** The real server's `hello` fields a member passes on. */
const COPIED = [
  'maxBsonObjectSize',
  'maxMessageSizeBytes',
  'maxWriteBatchSize',
  'logicalSessionTimeoutMinutes',
  'minWireVersion',
  'maxWireVersion',
  'readOnly',
] as const;

interface Member {
  readonly index: number;
  readonly proxy: WireProxy;
  readonly host: string;
  up: boolean;
  processId: ObjectId;
  /** `performance.now()` before which it may not be elected (`replSetFreeze`). */
  unelectableUntil: number;
  /** Stopped (`freeze`): what arrives waits in `held`, replies wait in `onThaw`. */
  frozen: boolean;
  readonly held: [ClientMessage, ProxiedConnection][];
  readonly onThaw: (() => void)[];
  /** Awaitable `hello`s waiting for the next change. */
  readonly waiters: Set<() => void>;
  readonly seen: MemberCommand[];
  /** The `connectionId` each connection's `hello` gives. */
  readonly connectionIds: WeakMap<ProxiedConnection, number>;
  lastConnectionId: number;
}

function connectionIdOf(member: Member, connection: ProxiedConnection): number {
  let id = member.connectionIds.get(connection);
  if (id === undefined) {
    member.lastConnectionId += 1;
    id = member.lastConnectionId;
    member.connectionIds.set(connection, id);
  }
  return id;
}

/** Starts `options.members` members in front of the server of `targetUri`, the first one primary. */
export async function startReplicaSet(
  targetUri: string,
  options: ReplicaSetOptions = {},
): Promise<SimulatedReplicaSet> {
  const count = options.members ?? 3;
  const setName = options.setName ?? 'rs0';
  const mongos = options.mode === 'mongos';
  const limits = await serverLimits(targetUri);
  const members: Member[] = [];
  const elections: Election[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let primary: number | undefined;
  /** The primary the members name: after a crash, the dead one until the next election. */
  let named: number | undefined;
  let term = 0;
  let counter = 0;
  let closed = false;

  const later = (ms: number, action: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) action();
    }, ms);
    timers.add(timer);
  };

  /** Every member's `topologyVersion` moves on, and the awaitable `hello`s answer. */
  const changed = () => {
    counter += 1;
    for (const member of members) {
      for (const wake of [...member.waiters]) wake();
    }
  };

  const stateOf = (member: Member): MemberState => {
    if (!member.up) return 'DOWN';
    if (mongos) return 'MONGOS';
    return member.index === primary ? 'PRIMARY' : 'SECONDARY';
  };

  const topologyVersion = (member: Member) => ({
    processId: member.processId,
    counter: Long.fromNumber(counter),
  });

  const helloOf = (member: Member, legacy: boolean): Document => {
    const common = {
      topologyVersion: topologyVersion(member),
      ...limits,
      localTime: new Date(),
      ok: 1,
    };
    const writable = mongos || member.index === primary;
    const role = legacy ? { ismaster: writable } : { isWritablePrimary: writable };
    if (mongos) return { ...role, msg: 'isdbgrid', ...common };
    const current = named === undefined ? undefined : members[named];
    return {
      ...role,
      secondary: !writable,
      setName,
      setVersion: 1,
      hosts: members.map(({ host }) => host),
      ...(current === undefined ? {} : { primary: current.host }),
      me: member.host,
      ...(writable ? { electionId: electionId(term) } : {}),
      lastWrite: { lastWriteDate: new Date() },
      ...common,
    };
  };

  /** Answers a `hello`: at once, or (awaitable) at the next change, streaming when allowed. */
  const hello = (
    member: Member,
    message: ClientMessage,
    request: WireRequest,
    connection: ProxiedConnection,
  ) => {
    const { body } = request;
    const awaitable = body.maxAwaitTimeMS !== undefined && body.topologyVersion !== undefined;
    const maxAwaitMs = awaitable ? Number(body.maxAwaitTimeMS) : DEFAULT_MAX_AWAIT_MS;
    const legacy = request.name !== 'hello';
    let answerTo = { requestId: message.requestId, legacy: request.legacy };
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      member.waiters.delete(wake);
      if (timer !== undefined) {
        clearTimeout(timer);
        timers.delete(timer);
        timer = undefined;
      }
    };
    const reply = () => {
      if (closed || !connection.open) return;
      if (member.frozen) {
        member.onThaw.push(reply);
        return;
      }
      const document = {
        ...helloOf(member, legacy),
        ...(body.helloOk === true ? { helloOk: true } : {}),
        connectionId: connectionIdOf(member, connection),
      };
      const id = connection.answer(answerTo, document, { moreToCome: request.exhaustAllowed });
      // A streamed reply is followed by the next one, answering this one.
      if (request.exhaustAllowed) {
        answerTo = { requestId: id, legacy: false };
        wait();
      }
    };
    function wake() {
      stop();
      reply();
    }
    const wait = () => {
      member.waiters.add(wake);
      timer = setTimeout(wake, maxAwaitMs);
      timers.add(timer);
    };
    const known = body.topologyVersion as { processId?: ObjectId; counter?: Long } | undefined;
    const current =
      known?.processId?.equals(member.processId) === true && Number(known.counter) >= counter;
    if (awaitable && current) {
      connection.onClose(stop);
      wait();
    } else {
      if (request.exhaustAllowed) connection.onClose(stop);
      reply();
    }
  };

  /** What a member that is not primary answers instead of forwarding, if anything. */
  const refusal = (member: Member, request: WireRequest): Document | undefined => {
    if (mongos || member.index === primary) return undefined;
    const { name, body } = request;
    const writes =
      WRITES.has(name) ||
      (name === 'aggregate' &&
        Array.isArray(body.pipeline) &&
        body.pipeline.some((stage: Document) => '$out' in stage || '$merge' in stage));
    if (writes) {
      return {
        ok: 0,
        code: 10107,
        codeName: 'NotWritablePrimary',
        errmsg: 'not primary',
        topologyVersion: topologyVersion(member),
        ...(body.txnNumber === undefined ? {} : { errorLabels: ['RetryableWriteError'] }),
      };
    }
    const mode = (body.$readPreference as { mode?: unknown } | undefined)?.mode;
    if (READS.has(name) && (mode === undefined || mode === 'primary')) {
      return {
        ok: 0,
        code: 13435,
        codeName: 'NotPrimaryNoSecondaryOk',
        errmsg: 'not primary and secondaryOk=false',
        topologyVersion: topologyVersion(member),
      };
    }
    return undefined;
  };

  const handle = (member: Member, message: ClientMessage, connection: ProxiedConnection) => {
    if (member.frozen) {
      member.held.push([message, connection]);
      return;
    }
    const { request } = message;
    if (request === undefined) {
      connection.forward(message);
      return;
    }
    if (HELLO.has(request.name)) {
      hello(member, message, request, connection);
      return;
    }
    const answer = refusal(member, request);
    member.seen.push({
      name: request.name,
      body: request.body,
      at: performance.now(),
      answeredBy: answer === undefined ? 'server' : (answer.code as number),
    });
    if (member.seen.length > MAX_SEEN) member.seen.splice(0, member.seen.length - MAX_SEEN);
    if (answer === undefined) connection.forward(message);
    else connection.answer(message, answer);
  };

  for (let index = 0; index < count; index += 1) {
    const holder: { member?: Member } = {};
    const proxy = await startWireProxy(targetUri, {
      message: (message, connection) => {
        if (holder.member !== undefined) handle(holder.member, message, connection);
      },
    });
    const member: Member = {
      index,
      proxy,
      host: `127.0.0.1:${proxy.port}`,
      up: true,
      processId: new ObjectId(),
      unelectableUntil: 0,
      frozen: false,
      held: [],
      onThaw: [],
      waiters: new Set(),
      seen: [],
      connectionIds: new WeakMap(),
      lastConnectionId: 0,
    };
    holder.member = member;
    members.push(member);
  }

  const eligible = (member: Member) =>
    member.up &&
    !member.frozen &&
    member.unelectableUntil <= performance.now() &&
    member.index !== primary;

  const elect = (index: number): Election => {
    const member = members[index];
    if (member === undefined || !member.up || member.frozen) {
      throw new Error(`member ${index} cannot be elected`);
    }
    term += 1;
    primary = index;
    named = index;
    const election = { primary: index, term, at: performance.now() };
    elections.push(election);
    changed();
    return election;
  };

  /** Elects `preferred` if it may be, else the next eligible member after `after`; retries while none may. */
  const electWhenPossible = (
    after: number,
    preferred: number | undefined,
    done: (election: Election | undefined) => void,
  ) => {
    if (closed) {
      done(undefined);
      return;
    }
    if (primary !== undefined) {
      // Someone else was elected meanwhile (by `elect`).
      done(elections.at(-1));
      return;
    }
    const preferredMember = preferred === undefined ? undefined : members[preferred];
    const candidate =
      preferredMember !== undefined && eligible(preferredMember)
        ? preferredMember
        : [...members.slice(after + 1), ...members.slice(0, after + 1)].find(eligible);
    if (candidate === undefined)
      later(ELECTION_RETRY_MS, () => electWhenPossible(after, preferred, done));
    else done(elect(candidate.index));
  };

  /** What `close()` settles: the promises of elections and restarts still to come. */
  const closers = new Set<() => void>();
  const settledByClose = <T>(start: (resolve: (value: T) => void) => void, onClose: T) =>
    new Promise<T>((resolve) => {
      const close = () => resolve(onClose);
      closers.add(close);
      start((value) => {
        closers.delete(close);
        resolve(value);
      });
    });

  const withoutPrimaryFor = (ms: number, old: number, next: number | undefined) =>
    settledByClose<Election | undefined>(
      (resolve) => later(ms, () => electWhenPossible(old, next, resolve)),
      undefined,
    );

  const requireReplicaSet = (what: string) => {
    if (mongos) throw new Error(`${what} needs a replica set, not mongos mode`);
  };

  if (!mongos) elect(0);

  const hosts = members.map(({ host }) => host).join(',');
  const views: ReplicaSetMember[] = members.map((member) => ({
    index: member.index,
    port: member.proxy.port,
    host: member.host,
    get state() {
      return stateOf(member);
    },
    seen: member.seen,
  }));
  return {
    uri: mongos ? `mongodb://${hosts}/` : `mongodb://${hosts}/?replicaSet=${setName}`,
    setName,
    members: views,
    get primary() {
      return primary === undefined ? undefined : views[primary];
    },
    elections,
    elect: (index) => {
      requireReplicaSet('an election');
      if (index === primary) throw new Error(`member ${index} is primary already`);
      return elect(index);
    },
    stepDown: ({ noPrimaryMs = 0, next, closeConnections = false } = {}) => {
      requireReplicaSet('a step-down');
      const old = primary;
      if (old === undefined) return Promise.reject(new Error('there is no primary to step down'));
      primary = undefined;
      named = undefined;
      changed();
      const oldMember = members[old] as Member;
      if (closeConnections)
        for (const connection of oldMember.proxy.connections) connection.hangUp();
      // A member that stepped down does not stand in the election that follows (a real one waits
      // `stepDownSecs`, 60 s by default; here it may stand in any later one).
      oldMember.unelectableUntil = Math.max(
        oldMember.unelectableUntil,
        performance.now() + noPrimaryMs + 1,
      );
      return withoutPrimaryFor(noPrimaryMs, old, next);
    },
    crash: (index, { downMs, electionAfterMs = 11_000 }) => {
      const member = members[index];
      if (member === undefined || !member.up) throw new Error(`member ${index} is not up`);
      member.up = false;
      for (const connection of member.proxy.connections) connection.destroy();
      const refused = member.proxy.refuse();
      const restarted = settledByClose<void>((resolve) => {
        later(downMs, () => {
          void refused
            .then(() => member.proxy.accept())
            .then(() => {
              member.processId = new ObjectId();
              member.up = true;
              // It comes back as a secondary, which the others learn from their heartbeats.
              if (named === index) named = undefined;
              changed();
              resolve();
            });
        });
      }, undefined);
      if (index !== primary) return { election: Promise.resolve(undefined), restarted };
      // The others notice only when their heartbeats fail: until the election, they still name
      // the old primary, and nothing they answer changes.
      primary = undefined;
      return { election: withoutPrimaryFor(electionAfterMs, index, undefined), restarted };
    },
    freeze: (index, { forMs, electionAfterMs = 11_000 }) => {
      const member = members[index];
      if (member === undefined || !member.up || member.frozen) {
        throw new Error(`member ${index} is not running`);
      }
      member.frozen = true;
      for (const connection of member.proxy.connections) connection.hold();
      const wasPrimary = index === primary;
      const thawed = settledByClose<void>((resolve) => {
        later(forMs, () => {
          member.frozen = false;
          // Thawed before the others elected someone, it is primary still: the election is off.
          if (wasPrimary && primary === undefined && named === index) primary = index;
          for (const connection of member.proxy.connections) connection.release();
          for (const [message, connection] of member.held.splice(0)) {
            handle(member, message, connection);
          }
          for (const reply of member.onThaw.splice(0)) reply();
          resolve();
        });
      }, undefined);
      if (!wasPrimary) return { election: Promise.resolve(undefined), thawed };
      // As after a crash, the others name it until they elect another.
      primary = undefined;
      return { election: withoutPrimaryFor(electionAfterMs, index, undefined), thawed };
    },
    replSetFreeze: (index, ms) => {
      requireReplicaSet('replSetFreeze');
      const member = members[index];
      if (member === undefined) throw new Error(`there is no member ${index}`);
      if (index === primary) throw new Error('cannot freeze the primary (replSetFreeze)');
      member.unelectableUntil = ms === 0 ? 0 : performance.now() + ms;
    },
    close: async () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const close of closers) close();
      closers.clear();
      for (const member of members) member.waiters.clear();
      await Promise.all(members.map((member) => member.proxy.close()));
    },
  };
}

/** The `hello` fields of the real server that members copy (limits, wire versions). */
async function serverLimits(targetUri: string): Promise<Document> {
  const client = new MongoClient(targetUri, {
    directConnection: true,
    serverSelectionTimeoutMS: 5_000,
  });
  try {
    const reply = await client.db('admin').command({ hello: 1 });
    return Object.fromEntries(COPIED.filter((key) => key in reply).map((key) => [key, reply[key]]));
  } finally {
    await client.close();
  }
}

/** The election id of `term`, made as servers make it: ObjectId 7fffffff followed by the term. */
function electionId(term: number): ObjectId {
  return new ObjectId(`7fffffff${term.toString(16).padStart(16, '0')}`);
}
