/** A Node-style callback: an error, or `null` and the value. */
export type Callback<T> = (error: Error | null, value?: T) => void;

/**
 * Settles `callback` from `promise`, exactly once and outside the promise chain, so that a
 * callback which throws is neither called a second time nor swallowed. Without a callback the
 * promise is returned for the caller to await; a rejection the caller ignores is not reported
 * as unhandled.
 */
export function callbackify<T>(
  promise: Promise<T>,
  callback: Callback<T> | null | undefined,
): Promise<T> | undefined {
  // Version 5 accepted a missing callback in any falsy form.
  if (callback === undefined || callback === null) {
    promise.catch(() => undefined);
    return promise;
  }
  if (typeof callback !== 'function') {
    promise.catch(() => undefined);
    throw new TypeError(`Expected the callback to be a function, got ${typeof callback}`);
  }
  promise.then(
    (value) => process.nextTick(callback, null, value),
    (error: unknown) => process.nextTick(callback, toError(error)),
  );
  return undefined;
}

export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
