/**
 * Redaction: how an error, a message or a connection string is shown without what it may quote.
 * Driver messages quote session ids (`E11000 … dup key: { _id: "…" }`) and keys (`invalid key:
 * "…"`); `JSON.stringify` names the keys of a circular path and `JSON.parse` quotes the text; a
 * connection string holds its password. `util.inspect`, which Express's default error handler uses
 * through `console.error`, prints an error's whole `cause` chain, so a cause must be safe too.
 */
import { safely } from '../support/values.js';
import { isBranded } from './branding.js';

/**
 * The driver's class and numeric code only: driver messages can quote the offending document
 * or key (a duplicate-key message quotes the whole session id).
 */
export function driverSummary(cause: unknown): string {
  if (!(cause instanceof Error)) return 'unknown error';
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'number' || typeof code === 'string'
    ? `${cause.name} (code ${code})`
    : cause.name;
}

/** Blanks the user and password of every connection string in `text`. */
export function withoutCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s"'`]*@/gi, '$1<credentials>@');
}

/** An error's class name where it is an identifier (`TypeError`), else `Error`: never its text. */
export function errorName(error: Error): string {
  const name = safely(() => error.name);
  return typeof name === 'string' && /^\w{1,64}$/.test(name) ? name : 'Error';
}

/** Marks the errors `withheld` makes, so that one is never withheld again. */
const WITHHELD = Symbol('withheld');
const MAX_CAUSE_DEPTH = 4;

/**
 * An error that stands for `error` in a `cause`: its class name, its `code` (number or short
 * string), `codeName`, error labels and stack frames, and the same of its own cause; never its
 * message, its stack's header (which repeats the message) or its other properties (a
 * duplicate-key error's `keyValue` holds the session id). The store's own errors, whose messages
 * quote nothing, are kept as they are.
 */
export function withheld(error: unknown, depth = 0): unknown {
  if (isBranded(error) || isWithheld(error)) return error;
  const summary = new Error('(message withheld: it may quote session ids or contents)');
  Object.defineProperty(summary, WITHHELD, { value: true });
  summary.name = error instanceof Error ? errorName(error) : kindName(error);
  summary.stack = `${summary.name}: ${summary.message}${error instanceof Error ? frames(error) : ''}`;
  if (typeof error !== 'object' || error === null) return summary;
  const { code, codeName } = error as { code?: unknown; codeName?: unknown };
  const fields = summary as unknown as Record<string, unknown>;
  if (typeof code === 'number' || (typeof code === 'string' && /^[\w.-]{1,64}$/.test(code))) {
    fields.code = code;
  }
  if (typeof codeName === 'string' && /^\w{1,64}$/.test(codeName)) fields.codeName = codeName;
  const labels = errorLabels(error);
  if (labels.length > 0) fields.errorLabels = labels;
  const inner = safely(() => (error as { cause?: unknown }).cause);
  if (inner !== undefined && depth < MAX_CAUSE_DEPTH) {
    Object.defineProperty(summary, 'cause', {
      value: withheld(inner, depth + 1),
      writable: true,
      configurable: true,
    });
  }
  return summary;
}

function isWithheld(error: unknown): boolean {
  return typeof error === 'object' && error !== null && Object.hasOwn(error, WITHHELD);
}

/** The stack frames of `error` without its header, or nothing where the header cannot be told apart. */
function frames(error: Error): string {
  const stack = safely(() => error.stack);
  const header = safely(() => String(error)) ?? '';
  return typeof stack === 'string' && header !== '' && stack.startsWith(header)
    ? stack.slice(header.length)
    : '';
}

function kindName(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

function errorLabels(error: object): string[] {
  const labels = safely(() => (error as { errorLabels?: unknown }).errorLabels);
  return Array.isArray(labels)
    ? labels.filter(
        (label): label is string => typeof label === 'string' && /^\w{1,64}$/.test(label),
      )
    : [];
}
