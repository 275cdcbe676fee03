/**
 * The string forms: the session as one string, by JSON (the `'json'` serializer, and
 * connect-mongo's default form read under the document form) or by a custom serializer.
 */

import { InvalidSessionError, UnreadableSessionError } from '../errors/classes.js';
import { withheld } from '../errors/redaction.js';
import type { SessionSerializer } from '../options/option-types.js';
import { describeValue, isWellFormed, safely } from '../support/values.js';
import { NOT_WELL_FORMED, type SessionFields } from './bson-form.js';

export interface StringForm {
  readonly name: string;
  stringify(session: unknown): unknown;
  parse(text: string): unknown;
  /** Names what in a session JSON cannot hold, for JSON's own errors. */
  readonly diagnose: ((session: unknown) => string | undefined) | undefined;
}

export const JSON_FORM: StringForm = {
  name: 'JSON',
  stringify: (session) => JSON.stringify(session),
  parse: (text) => JSON.parse(text),
  diagnose: jsonProblem,
};

export function stringSerializer(serializer: 'json' | SessionSerializer): StringForm {
  if (serializer === 'json') return JSON_FORM;
  return {
    name: "the serializer's",
    stringify: (session) => serializer.stringify(session),
    parse: (text) => serializer.parse(text),
    diagnose: undefined,
  };
}

export function stringified(form: StringForm, session: SessionFields): string {
  let text: unknown;
  try {
    text = form.stringify(session);
  } catch (error) {
    const problem = safely(() => form.diagnose?.(session));
    throw new InvalidSessionError(
      `The session cannot be stored: ${problem ?? `${form.name} stringify threw ${errorKind(error)}`}`,
      { cause: withheld(error) },
    );
  }
  if (typeof text !== 'string') {
    throw new InvalidSessionError(
      `The session cannot be stored: ${form.name} stringify returned ${describeValue(text)}, not a string`,
    );
  }
  // JSON.stringify escapes lone surrogates (`"\ud800"`), so JSON keeps them exactly; a custom
  // serializer may not, and its string is stored as UTF-8.
  if (!isWellFormed(text)) {
    throw new InvalidSessionError(
      `The session cannot be stored: ${form.name} stringify returned a string ${NOT_WELL_FORMED}`,
    );
  }
  return text;
}

export function readString(form: StringForm, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = form.parse(text);
  } catch (error) {
    throw new UnreadableSessionError(
      `${form.name} parse threw ${errorKind(error)}`,
      withheld(error),
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UnreadableSessionError(
      `${form.name} parse returned ${describeValue(parsed)}, not an object`,
    );
  }
  return parsed as Record<string, unknown>;
}

/** Emulates JSON.stringify's walk to say what it choked on and where; only run after it threw. */
function jsonProblem(
  value: unknown,
  key = '',
  depth = 0,
  ancestors: unknown[] = [],
): string | undefined {
  let current = value;
  const toJSON = (current as { toJSON?: unknown } | null | undefined)?.toJSON;
  if (typeof toJSON === 'function') {
    try {
      current = toJSON.call(current, key);
    } catch {
      return `a toJSON method that throws at depth ${depth}`;
    }
  }
  if (typeof current === 'bigint') return `a BigInt at depth ${depth}`;
  if (typeof current !== 'object' || current === null) return undefined;
  if (ancestors.includes(current)) return `a circular reference at depth ${depth}`;
  ancestors.push(current);
  const entries = Array.isArray(current)
    ? current.map((_, index) => String(index))
    : Object.keys(current);
  for (const entry of entries) {
    const problem = jsonProblem(
      (current as Record<string, unknown>)[entry],
      entry,
      depth + 1,
      ancestors,
    );
    if (problem !== undefined) return problem;
  }
  ancestors.pop();
  return undefined;
}

function errorKind(error: unknown): string {
  return error instanceof Error ? `a ${error.name}` : describeValue(error);
}
