/**
 * The filter form of `destroyWhere`: a MongoDB filter over session fields, checked before
 * anything is sent and rewritten onto the stored document's `session` field, with every key
 * named the way the codec stores it. Only what selects sessions by their own fields passes:
 * field conditions with the query operators of plain values, and `$and`, `$or`, `$nor` of such
 * filters. Code that runs on the server (`$where`, `$function` in `$expr`) and conditions on
 * other fields of the document are refused. Messages say what is wrong and where in the
 * filter's structure, never a key or a value: a path names session keys.
 */
import type { Document } from 'mongodb';
import { describeValue, isPlainObject, isWellFormed } from '../support/values.js';
import { MAX_DOCUMENT_LEVELS } from './bson-form.js';
import type { SessionQueryForm } from './session-codec.js';

/**
 * The predicate form of `destroyWhere`: called with each unexpired session and its id (as `ids()`
 * yields it: the stored key, `transformId(sid)` when that option is set). A truthy result, or a
 * promise of one, destroys the session.
 */
export type SessionPredicate<T> = (session: T, id: string) => boolean | Promise<boolean>;

/**
 * The filter form of `destroyWhere`: conditions on session fields as a MongoDB filter, keyed by
 * field paths within the session (`'user.id'`, dotted for nested fields), with the query
 * operators of plain values (`$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`, `$in`, `$nin`,
 * `$exists`, `$type`, `$regex`, `$not`, `$all`, `$elemMatch`, `$size`, `$mod`, `$bits…`), and
 * `$and`, `$or`, `$nor` of such filters at the top.
 */
export interface SessionFilter {
  /** Sessions matching every one of these filters. */
  readonly $and?: readonly SessionFilter[] | undefined;
  /** Sessions matching at least one of these filters. */
  readonly $or?: readonly SessionFilter[] | undefined;
  /** Sessions matching none of these filters. */
  readonly $nor?: readonly SessionFilter[] | undefined;
  readonly [path: string]: unknown;
}

/** What `destroyWhere` takes: a predicate run here, or a filter sent to the server. */
export type DestroyFilter<T> = SessionPredicate<T> | SessionFilter;

/**
 * Narrows `destroyWhere` to devices, by the handles `listWhere` gives (`handleOf(sid)` gives the
 * current one's): `only` ends just these, `except` keeps these. Each takes a handle or a list.
 */
export interface DeviceSelection {
  /** End only the sessions with these handles ("sign out this device"). */
  readonly only?: string | readonly string[] | undefined;
  /** Keep the sessions with these handles ("sign out everywhere else"). */
  readonly except?: string | readonly string[] | undefined;
}

/**
 * Whether a handle is chosen by `selection`; `undefined` when it chooses every handle. Throws a
 * `TypeError`, quoting no handle, for a selection that is not one.
 */
export function handleSelection(
  selection: DeviceSelection | undefined,
): ((handle: string) => boolean) | undefined {
  if (selection === undefined) return undefined;
  if (!isPlainObject(selection)) {
    throw new TypeError(
      `Expected the selection of \`destroyWhere\` to be \`{ only?, except? }\`, got ${describeValue(selection)}`,
    );
  }
  const only = handles('only', selection.only);
  const except = handles('except', selection.except);
  if (only === undefined && except === undefined) return undefined;
  return (handle) => (only === undefined || only.has(handle)) && !except?.has(handle);
}

function handles(name: string, value: unknown): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined;
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (!list.every((each) => typeof each === 'string' && each !== '')) {
    throw new TypeError(
      `Expected \`${name}\` of the selection of \`destroyWhere\` to be a handle from \`listWhere\` (a non-empty string) or a list of them`,
    );
  }
  return new Set(list as string[]);
}

const LOGICAL = new Set(['$and', '$or', '$nor']);
/**
 * Operators whose operand is a value: one compared with the field's (its object keys then
 * escaped as stored), or one saying something else about the field (its type, size …).
 */
const VALUE_OPERATORS = new Set([
  '$eq',
  '$ne',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$exists',
  '$type',
  '$size',
  '$mod',
  '$regex',
  '$options',
  '$bitsAllSet',
  '$bitsAnySet',
  '$bitsAllClear',
  '$bitsAnyClear',
]);
const LIST_OPERATORS = new Set(['$in', '$nin', '$all']);
/**
 * Operators refused by name: those that run code on the server, select by other means than the
 * session's fields, or need an index this collection does not have. Any other key starting with
 * `$` is refused without being quoted, since it may be a session key.
 */
const REFUSED_BY_NAME = new Set([
  '$where',
  '$expr',
  '$function',
  '$accumulator',
  '$jsonSchema',
  '$text',
  '$comment',
  '$sampleRate',
  '$near',
  '$nearSphere',
  '$geoWithin',
  '$geoIntersects',
]);

/**
 * The filter sent to the server for `filter`: every field path moved under `session` with its
 * keys as the codec stores them. Throws a `TypeError` when the stored form cannot be queried (a
 * string form, or encryption) or the filter is not one this form accepts.
 */
export function storedSessionFilter(
  filter: unknown,
  form: SessionQueryForm,
  operation: 'destroyWhere' | 'listWhere' = 'destroyWhere',
): Document {
  const subject = `the filter of \`${operation}\``;
  if (!isPlainObject(filter)) {
    throw new TypeError(
      `Expected ${subject} to be a predicate \`(session, id) => boolean\` or a plain object of conditions on session fields, got ${describeValue(filter)}`,
    );
  }
  if (Object.keys(filter).length === 0) {
    throw new TypeError(
      `Expected ${subject} to hold at least one condition: an empty filter would select every session (pass a predicate \`() => true\` to mean that)`,
    );
  }
  if (!form.queryable) {
    throw new TypeError(
      `The filter form of \`${operation}\` cannot be used here: ${form.reason}, which the server cannot query. Pass a predicate \`(session, id) => boolean\` instead: it reads the sessions here, whatever their stored form.`,
    );
  }
  return new Rewriter(form.storedKey, subject).filter(filter, 'session.', 'top level', 1);
}

class Rewriter {
  readonly #storedKey: (key: string) => string;
  /** The filter's name in messages: `the filter of \`destroyWhere\``. */
  readonly #subject: string;

  constructor(storedKey: (key: string) => string, subject: string) {
    this.#storedKey = storedKey;
    this.#subject = subject;
  }

  /** A filter: field conditions and logical operators; paths get `prefix` (empty within `$elemMatch`). */
  filter(filter: Record<string, unknown>, prefix: string, at: string, depth: number): Document {
    this.#deepen(depth, at);
    const rewritten: Document = {};
    let field = 0;
    for (const [key, value] of Object.entries(filter)) {
      if (key.startsWith('$')) {
        rewritten[key] = this.#logical(key, value, prefix, at, depth);
        continue;
      }
      field += 1;
      const where = `${at}, field ${field}`;
      rewritten[prefix + this.#path(key, where)] = this.#condition(value, where, depth + 1);
    }
    return rewritten;
  }

  #logical(
    operator: string,
    value: unknown,
    prefix: string,
    at: string,
    depth: number,
  ): Document[] {
    if (!LOGICAL.has(operator)) {
      throw new TypeError(
        `${refused(operator)} among the conditions of ${this.#subject} (${at}): they are conditions on session fields, and \`$and\`, \`$or\`, \`$nor\` of them`,
      );
    }
    if (!Array.isArray(value) || value.length === 0) {
      throw new TypeError(
        `Expected \`${operator}\` in ${this.#subject} (in ${at}) to be a non-empty array of filters, got ${describeValue(value)}`,
      );
    }
    return value.map((each: unknown, index) => {
      const where = `${at}, ${operator}[${index}]`;
      if (!isPlainObject(each) || Object.keys(each).length === 0) {
        throw new TypeError(
          `Expected each of \`${operator}\` in ${this.#subject} (${where}) to be a non-empty plain object, got ${describeValue(each)}`,
        );
      }
      return this.filter(each, prefix, where, depth + 1);
    });
  }

  /** A dotted path of session keys, each as stored; a key holding a dot cannot be named. */
  #path(path: string, at: string): string {
    const keys = path.split('.');
    if (keys.includes('')) {
      throw new TypeError(
        `Expected the field paths of ${this.#subject} to be session keys separated by dots, got one with an empty key (${at})`,
      );
    }
    this.#wellFormed(path, 'a field path', at);
    return keys.map(this.#storedKey).join('.');
  }

  /** What a field path is compared with: an object of operators, or a value. */
  #condition(value: unknown, at: string, depth: number): unknown {
    if (!isPlainObject(value)) return this.#value(value, at, depth);
    const keys = Object.keys(value);
    const operators = keys.filter((key) => key.startsWith('$'));
    if (operators.length === 0) return this.#value(value, at, depth);
    if (operators.length !== keys.length) {
      throw new TypeError(
        `Expected a field's condition in ${this.#subject} (${at}) to be either operators or a value, got an object mixing keys that start with \`$\` and keys that do not`,
      );
    }
    return this.#operators(value, at, depth);
  }

  #operators(operators: Record<string, unknown>, at: string, depth: number): Document {
    this.#deepen(depth, at);
    const rewritten: Document = {};
    for (const [operator, operand] of Object.entries(operators)) {
      const where = `${at}, ${isKnown(operator) ? operator : 'an unknown operator'}`;
      rewritten[operator] = this.#operand(operator, operand, where, depth + 1);
    }
    return rewritten;
  }

  #operand(operator: string, operand: unknown, at: string, depth: number): unknown {
    if (VALUE_OPERATORS.has(operator)) return this.#value(operand, at, depth);
    if (LIST_OPERATORS.has(operator)) {
      if (!Array.isArray(operand)) {
        throw new TypeError(
          `Expected \`${operator}\` in ${this.#subject} (${at}) to be an array, got ${describeValue(operand)}`,
        );
      }
      this.#deepen(depth, at);
      return operand.map((each: unknown, index) => {
        const where = `${at}[${index}]`;
        // `$all` also takes `{ $elemMatch }` conditions, one for each element it requires.
        if (operator === '$all' && isPlainObject(each) && '$elemMatch' in each) {
          return this.#condition(each, where, depth + 1);
        }
        return this.#value(each, where, depth + 1);
      });
    }
    if (operator === '$not') {
      if (operand instanceof RegExp) return this.#value(operand, at, depth);
      if (isPlainObject(operand) && Object.keys(operand).length > 0) {
        return this.#condition(operand, at, depth);
      }
      throw new TypeError(
        `Expected \`$not\` in ${this.#subject} (${at}) to be an object of operators or a RegExp, got ${describeValue(operand)}`,
      );
    }
    if (operator === '$elemMatch') {
      if (!isPlainObject(operand) || Object.keys(operand).length === 0) {
        throw new TypeError(
          `Expected \`$elemMatch\` in ${this.#subject} (${at}) to be a non-empty plain object, got ${describeValue(operand)}`,
        );
      }
      // Operators apply to the element itself; anything else is a filter on the element's own
      // fields, whose keys are stored escaped like the session's.
      const keys = Object.keys(operand);
      const onElement = keys.every((key) => key.startsWith('$') && !LOGICAL.has(key));
      return onElement ? this.#operators(operand, at, depth) : this.filter(operand, '', at, depth);
    }
    throw new TypeError(
      `${refused(operator)} in a field's condition in ${this.#subject} (${at}): it takes the query operators of values (see the \`SessionFilter\` type)`,
    );
  }

  /**
   * A value compared with stored ones: its object keys escaped as the codec stores them. An
   * `undefined` is refused rather than sent: the server reads it as null, which matches every
   * session without the field (`{ 'user.id': user.id }` with no `user.id` would log out every
   * anonymous visitor).
   */
  #value(value: unknown, at: string, depth: number): unknown {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
      throw new TypeError(
        `Expected a value in ${this.#subject} (${at}), got ${describeValue(value)}${value === undefined ? ': the server would read it as null, which matches every session without the field' : ''}`,
      );
    }
    if (Array.isArray(value)) {
      this.#deepen(depth, at);
      return value.map((each: unknown, index) => this.#value(each, `${at}[${index}]`, depth + 1));
    }
    if (typeof value === 'string') this.#wellFormed(value, 'a string', at);
    if (value instanceof RegExp) this.#wellFormed(value.source, 'a regular expression', at);
    if (!isPlainObject(value)) return value;
    this.#deepen(depth, at);
    const stored: Document = {};
    for (const [key, each] of Object.entries(value)) {
      this.#wellFormed(key, 'a key', at);
      stored[this.#storedKey(key)] = this.#value(each, at, depth + 1);
    }
    return stored;
  }

  /**
   * Text the server would receive as UTF-8, where a lone surrogate becomes U+FFFD: `'a\uD800'`
   * would select the sessions holding `'a\uFFFD'`, which the codec never stores for it.
   */
  #wellFormed(text: string, what: string, at: string): void {
    if (isWellFormed(text)) return;
    throw new TypeError(
      `Expected ${what} in ${this.#subject} (${at}) to be well-formed UTF-16, got one with a lone surrogate, which the server would read as U+FFFD`,
    );
  }

  /** Past MongoDB's nesting limit the server would refuse it; a filter that contains itself never ends. */
  #deepen(depth: number, at: string): void {
    if (depth > MAX_DOCUMENT_LEVELS) {
      throw new TypeError(
        `Expected ${this.#subject} to nest at most ${MAX_DOCUMENT_LEVELS} levels (a MongoDB document's limit), got a deeper or circular one (${at})`,
      );
    }
  }
}

/** Whether `operator` is one of MongoDB's, which a message may name: any other key may be the session's. */
function isKnown(operator: string): boolean {
  return (
    operator === '$not' ||
    operator === '$elemMatch' ||
    [REFUSED_BY_NAME, LOGICAL, VALUE_OPERATORS, LIST_OPERATORS].some((names) => names.has(operator))
  );
}

function refused(operator: string): string {
  return isKnown(operator)
    ? `\`${operator}\` is not allowed`
    : 'A key starting with `$` that is no operator of this form is not allowed';
}
