/**
 * The checks the option table (option-table.ts) gives its options: each takes a value given and
 * the option's name, returns the value the layers below read, or throws a `TypeError` that names
 * the option, what was expected and what was received. Values are quoted in refusals, except by
 * the checks of options that can hold a secret (client-source.ts), which describe them by kind.
 */
import { describeValue } from '../support/values.js';
import { RESERVED_FIELDS } from './document-fields.js';
import type { SerializerOption, SessionSerializer, TransformId } from './option-types.js';

/** Checks the value given for the option `name` (never `undefined`): see the file's comment. */
export type Check<Resolved> = (value: unknown, name: string) => Resolved;

/** Longest database name MongoDB accepts, in bytes (it must have fewer than 64). */
const MAX_DATABASE_NAME_BYTES = 63;
/** Longest namespace (`database.collection`) MongoDB 4.4+ accepts for an unsharded collection, in bytes. */
const MAX_NAMESPACE_BYTES = 255;

/** A received value as a refusal shows it, for options that hold no secret. */
function quoted(value: unknown): string {
  return `\`${String(value)}\` (${typeof value})`;
}

export function nonEmptyString(describe: (value: unknown) => string = quoted): Check<string> {
  return (value, name) => {
    if (typeof value !== 'string' || value === '') {
      throw new TypeError(`Expected \`${name}\` to be a non-empty string, got ${describe(value)}`);
    }
    return value;
  };
}

export function object<T extends object>(describe: (value: unknown) => string = quoted): Check<T> {
  return (value, name) => {
    if (typeof value !== 'object' || value === null) {
      throw new TypeError(`Expected \`${name}\` to be an object, got ${describe(value)}`);
    }
    return value as T;
  };
}

/** A number of milliseconds greater than 0, fractions allowed. */
export function boundedNumber(max: number): Check<number> {
  return (value, name) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
      throw new TypeError(
        `Expected \`${name}\` to be a positive finite number of milliseconds, at most ${max}, got ${quoted(value)}`,
      );
    }
    return value;
  };
}

export function positiveInteger(max = Number.MAX_SAFE_INTEGER): Check<number> {
  return (value, name) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0 || value > max) {
      throw new TypeError(
        `Expected \`${name}\` to be a positive integer, at most ${max}, got ${quoted(value)}`,
      );
    }
    return value;
  };
}

/** A whole number from 0, where 0 means something (no deadline, a write on every touch …). */
export function nonNegativeInteger(max: number, unit: string): Check<number> {
  return (value, name) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
      throw new TypeError(
        `Expected \`${name}\` to be a whole number of ${unit} from 0 to ${max}, got ${quoted(value)}`,
      );
    }
    return value;
  };
}

export function oneOf<T extends string>(allowed: readonly T[]): Check<T> {
  return (value, name) => {
    if (!allowed.includes(value as T)) {
      throw new TypeError(
        `Expected \`${name}\` to be one of ${allowed.map((option) => `'${option}'`).join(', ')}, got ${quoted(value)}`,
      );
    }
    return value as T;
  };
}

/** A non-empty string, quoted in refusals. */
const nonEmpty = nonEmptyString();

export const boolean: Check<boolean> = (value, name) => {
  if (typeof value !== 'boolean') {
    throw new TypeError(`Expected \`${name}\` to be true or false, got ${quoted(value)}`);
  }
  return value;
};

/** A top-level field name: no dots (they would address a nested field), no leading `$`, none the store writes itself. */
export const fieldName: Check<string> = (value, name) => {
  const field = nonEmpty(value, name);
  if (field.includes('.') || field.startsWith('$') || RESERVED_FIELDS.has(field)) {
    throw new TypeError(
      `Expected \`${name}\` to be a top-level field name other than ${[...RESERVED_FIELDS].map((each) => `\`${each}\``).join(', ')}, without \`.\` or a leading \`$\`, got \`${field}\``,
    );
  }
  return field;
};

/** Database names: no `/\\. "$*<>:|?` or NUL (MongoDB refuses them on some platform), fewer than 64 bytes. */
export const databaseName: Check<string> = (value, name) => {
  const database = nonEmpty(value, name);
  if (/[/\\. "$*<>:|?\0]/.test(database) || Buffer.byteLength(database) > MAX_DATABASE_NAME_BYTES) {
    throw new TypeError(
      `Expected \`${name}\` to be a MongoDB database name: fewer than 64 bytes, none of /\\. "$*<>:|? or NUL, got \`${database}\``,
    );
  }
  return database;
};

/** Collection names: no `$` or NUL, not `system.…`; the namespace's length is checked with the database's name (`assertNamespace`). */
export const collectionName: Check<string> = (value, name) => {
  const collection = nonEmpty(value, name);
  if (/[$\0]/.test(collection) || collection.startsWith('system.')) {
    throw collectionRefused(collection);
  }
  return collection;
};

/** Throws when `database.collection` is longer than MongoDB accepts. */
export function assertNamespace(database: string | undefined, collection: string): void {
  if (Buffer.byteLength(`${database ?? 'test'}.${collection}`) > MAX_NAMESPACE_BYTES) {
    throw collectionRefused(collection);
  }
}

function collectionRefused(collection: string): TypeError {
  return new TypeError(
    `Expected \`collection\` to be a MongoDB collection name: no $ or NUL, not starting with system., at most ${MAX_NAMESPACE_BYTES} bytes with the database name, got \`${collection}\``,
  );
}

export const serializer: Check<SerializerOption> = (value, name) => {
  if (value === 'document' || value === 'json') return value;
  const custom = value as Partial<SessionSerializer> | null;
  if (
    typeof custom === 'object' &&
    custom !== null &&
    typeof custom.stringify === 'function' &&
    typeof custom.parse === 'function'
  ) {
    return custom as SessionSerializer;
  }
  throw new TypeError(
    `Expected \`${name}\` to be 'document', 'json' or an object with \`stringify\` and \`parse\` functions, got ${quoted(value)}`,
  );
};

export const transformId: Check<TransformId> = (value, name) => {
  if (typeof value === 'function') return value as TransformId;
  throw new TypeError(
    `Expected \`${name}\` to be a function from a session id to the string it is stored under, got ${describeValue(value)}`,
  );
};
