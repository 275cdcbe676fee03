/**
 * A Node-style callback: an error, or `null` and the value. Typed as Node's own callbacks are
 * (`fs.readFile`'s `data` is a `Buffer`, not `Buffer | undefined`): on success the value is a
 * `T`; after an error it is `undefined` and not to be read.
 *
 * Not a union of argument lists such as `[error: Error] | [error: null, value: T]`: TypeScript
 * narrows an unannotated callback's parameters only over lists of one length, and a list for the
 * error case long enough for that (`[Error, undefined]`) refuses express-session's own
 * `(err?: any) => void` callbacks and annotated ones such as `(error: Error | null, count: number)`
 * (spec/types.spec.ts compiles each of these shapes).
 */
export type Callback<T> = (error: Error | null, value: T) => void;

/**
 * Starts `operation` and settles `callback` from it, exactly once and outside the promise
 * chain, so that a callback which throws is neither called a second time nor swallowed. A
 * callback that is not a function is a `TypeError` before the operation starts, so nothing is
 * sent. Without a callback the promise is returned for the caller to await; a rejection the
 * caller ignores is not reported as unhandled.
 */
export function callbackify<T>(
  operation: () => Promise<T>,
  callback: Callback<T> | null | undefined,
): Promise<T> | undefined {
  // Version 5 accepted a missing callback in any falsy form.
  if (callback === undefined || callback === null) {
    const promise = operation();
    promise.catch(() => undefined);
    return promise;
  }
  if (typeof callback !== 'function') {
    throw new TypeError(`Expected the callback to be a function, got ${typeof callback}`);
  }
  operation().then(
    (value) => process.nextTick(() => callback(null, value)),
    (error: unknown) =>
      process.nextTick(() => (callback as (error: Error) => void)(toError(error))),
  );
  return undefined;
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
