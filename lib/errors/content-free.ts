/**
 * Errors the codec passes on without the messages of the errors it caught: those messages can
 * quote session contents, which must never reach a message or a log line. Both forms and the
 * size check use these, so they live apart from either form.
 */
import { InvalidSessionError, markContentFree } from './errors.js';

/** Runs a method of the session's own objects; what it throws is refused without its message. */
export function called(run: () => unknown, problem: string): unknown {
  try {
    return run();
  } catch (error) {
    throw new InvalidSessionError(`The session cannot be stored: ${problem}`, {
      cause: contentFree(error),
    });
  }
}

export function safely<T>(run: () => T): T | undefined {
  try {
    return run();
  } catch {
    return undefined;
  }
}

/**
 * The error's name and stack frames without its message: JSON.stringify names the keys of a
 * circular path and JSON.parse quotes the text, so the original would print session contents
 * wherever the error is logged.
 */
export function contentFree(error: unknown): Error {
  const name = error instanceof Error ? error.name : 'Error';
  const safe = markContentFree(new Error('(message withheld: it may quote session contents)'));
  safe.name = name;
  const stack = error instanceof Error ? safely(() => error.stack) : undefined;
  const header = error instanceof Error ? (safely(() => String(error)) ?? '') : '';
  safe.stack =
    typeof stack === 'string' && header !== '' && stack.startsWith(header)
      ? `${name}: ${safe.message}${stack.slice(header.length)}`
      : `${name}: ${safe.message}`;
  return safe;
}
