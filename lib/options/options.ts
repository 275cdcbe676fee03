/**
 * The options, resolved once: what users give (`SessionRepositoryOptions`), what the layers below
 * read (`ResolvedOptions`, frozen) and what `store.options` shows (`StoreOptionsView`), all three
 * read from the one option table (option-table.ts), as are the known names (option-names.ts).
 */
import type { MongoClientOptions } from 'mongodb';
import { warnOnce } from '../errors/warnings.js';
import { describeValue } from '../support/values.js';
import { clientSource } from './client-source.js';
import { frozenForPrinting } from './loggable-options.js';
import type { AnyOption, FieldOf, GivenOf, ResolvedOf } from './option-descriptor.js';
import {
  assertNoConnectMongoNames,
  checkOptionNames,
  UNKNOWN_OPTION_WARNING_CODE,
  unknownOptionWarning,
} from './option-names.js';
import { OPTIONS } from './option-table.js';
import type { ClientSource } from './option-types.js';
import { assertNamespace } from './value-checks.js';

type Table = typeof OPTIONS;

/** Every option as users give it, each documented where the table declares it. */
type GivenOptions = { readonly [K in keyof Table]?: GivenOf<Table[K]> | undefined };

/** The options of the client's source, resolved together into `source`. */
type SourceNames = {
  [K in keyof Table]: Table[K] extends { readonly group: 'source' } ? K : never;
}[keyof Table];

/** The options resolved into a field of another name (`expires` into `expiresMs`, `collection` into `collectionName`). */
type RenamedNames = { [K in keyof Table]: FieldOf<Table[K], K> extends K ? never : K }[keyof Table];

/** The options resolved into a field of their own name. */
type OwnNamed = Exclude<keyof Table, SourceNames | RenamedNames>;

/**
 * Those options resolved, documented where the table declares them. (A mapped type that renames
 * keys loses the documentation; this one only leaves keys out.)
 */
type ResolvedFields = {
  readonly [K in keyof Table as K extends OwnNamed ? K : never]: ResolvedOf<Table[K]>;
};

/** Options of `SessionRepository` (and of `MongoDBStore`, which passes them on). */
export interface SessionRepositoryOptions extends GivenOptions {}

/**
 * Options after defaults and validation; frozen, and the only form the layers below read. Printed
 * (`util.inspect`, `console.log`) or serialised (`JSON.stringify`), it shows no credentials: see
 * loggable-options.ts.
 */
export interface ResolvedOptions extends ResolvedFields {
  /** Where the client comes from: one made from `uri`, `client`, or `clientPromise` (as a function). */
  readonly source: ClientSource;
  /** `expires`, in milliseconds. */
  readonly expiresMs: ResolvedOf<Table['expires']>;
  /** `collection`: the name of the collection (`repository.collection` is the collection). */
  readonly collectionName: ResolvedOf<Table['collection']>;
  /** @deprecated `collectionName`, the same name; this one is not listed when printed. */
  readonly collection: ResolvedOf<Table['collection']>;
}

/**
 * What `store.options` shows: the resolved options under version 5's names (`uri`,
 * `connectionOptions`, `databaseName`, `expires`), the others as resolved.
 */
export interface StoreOptionsView
  extends Omit<ResolvedOptions, 'source' | 'databaseName' | 'expiresMs' | 'collectionName'> {
  /** The connection string, when the store creates its client. */
  readonly uri: string | undefined;
  /** The options of the client the store creates (with the store's defaults added). */
  readonly connectionOptions: MongoClientOptions | undefined;
  /** The database named by the option; `null` (version 5's default) for the connection string's. */
  readonly databaseName: string | null;
  /** Milliseconds. */
  readonly expires: number;
  /** The collection's name. */
  readonly collection: string;
}

/** `true` when `A` and `B` are the same type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

// Fails to compile when these types and the table disagree: `expires` and `collection` are the
// options resolved under another name, and `store.options` shows every option but the client objects
// (`shown: false`), each under its option name.
const TYPES_FOLLOW_THE_TABLE: Same<RenamedNames, 'expires' | 'collection'> &
  Same<FieldOf<Table['expires'], 'expires'>, 'expiresMs'> &
  Same<FieldOf<Table['collection'], 'collection'>, 'collectionName'> &
  Same<Exclude<keyof Table, keyof StoreOptionsView>, 'client' | 'clientPromise'> &
  Same<Exclude<keyof StoreOptionsView, keyof Table>, never> = true;
void TYPES_FOLLOW_THE_TABLE;

/** The table's entries, as the interpreter below reads them. */
const ENTRIES = Object.entries(OPTIONS) as Array<[keyof Table, AnyOption]>;

/** Defaults the specs compare with; the table declares them. */
export const DEFAULT_EXPIRES_MS = OPTIONS.expires.default;
export const DEFAULT_OPERATION_TIMEOUT_MS = OPTIONS.operationTimeoutMs.default;

/** Validates user options once and returns the frozen result; throws a `TypeError` naming the option. */
export function resolveOptions(given: SessionRepositoryOptions | null = {}): ResolvedOptions {
  const options = asVersion5Did(given);
  assertNoConnectMongoNames(options);
  for (const unknown of checkOptionNames(options).unknown) {
    warnOnce(unknownOptionWarning(unknown), UNKNOWN_OPTION_WARNING_CODE);
  }
  // First, so that a rejecting `clientPromise` is handled whatever else is refused.
  const resolved: Record<string, unknown> = { source: clientSource(options, OPTIONS) };
  for (const [name, descriptor] of ENTRIES) {
    if (descriptor.group === 'source') continue;
    const value = options[name] ?? descriptor.default;
    resolved[descriptor.field ?? name] =
      value === undefined ? undefined : descriptor.check(value, name);
  }
  assertConsistent(resolved as unknown as ResolvedOptions);
  // The field's earlier name, kept for code that read it; not enumerable, so printed once.
  Object.defineProperty(resolved, 'collection', { get: () => resolved.collectionName });
  return frozenForPrinting(resolved as unknown as ResolvedOptions);
}

/** The rules between options, once each is valid on its own. */
function assertConsistent({ idField, expiresKey, databaseName, collectionName }: ResolvedOptions) {
  if (idField === expiresKey) {
    throw new TypeError(
      `Expected \`idField\` and \`expiresKey\` to differ, both are \`${idField}\``,
    );
  }
  if (expiresKey === '_ts' && idField === 'expires') {
    throw new TypeError(
      "Expected `idField` not to be `expires` with `expiresKey: '_ts'`: in the Cosmos DB mode the store keeps its expiry date in `expires`",
    );
  }
  assertNamespace(databaseName, collectionName);
}

/** The resolved options under version 5's names, frozen, and printed without credentials. */
export function optionsView(resolved: ResolvedOptions): StoreOptionsView {
  const fields = resolved as unknown as Readonly<Record<string, unknown>>;
  const view: Record<string, unknown> = {};
  for (const [name, { shown, field }] of ENTRIES) {
    if (shown === false) continue;
    view[name] = shown === undefined ? fields[field ?? name] : shown(resolved);
  }
  return frozenForPrinting(view as unknown as StoreOptionsView);
}

/**
 * Options as version 5 took them: any falsy value for "all defaults", `null` for "this one's
 * default", and numeric strings for numbers.
 */
function asVersion5Did(given: unknown): Readonly<Record<string, unknown>> {
  if (!given) return {};
  if (typeof given !== 'object') {
    // Not quoted: a connection string given in place of the options holds its password.
    throw new TypeError(`Expected options to be an object, got ${describeValue(given)}`);
  }
  const options: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(given)) {
    if (value !== null) options[name] = value;
  }
  for (const [name, { numeric }] of ENTRIES) {
    const value = options[name];
    if (numeric && typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value)) {
      options[name] = Number(value);
    }
  }
  return options;
}
