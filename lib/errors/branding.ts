/**
 * Error classes recognised across the package's two builds: its ES module build and its CommonJS
 * build each hold their own classes, and an application can load both (it imports the package
 * while a dependency requires it).
 */
/**
 * Names each error class of this package on its prototype, under a key shared by every copy of
 * the package loaded in one process: its ES module build and its CommonJS build each hold their
 * own classes, and an application can load both (it imports the package while a dependency
 * requires it).
 */
const ERROR_CLASS = Symbol.for('connect-mongodb-session.errorClass');

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Names `errorClass` on its prototype; with `everyBuild`, `instanceof` on it (and on its
 * subclasses) also holds for the errors of the other build.
 */
export function brand(errorClass: ErrorClass, name: string, everyBuild = false): void {
  Object.defineProperty(errorClass.prototype, ERROR_CLASS, { value: name });
  if (everyBuild) recogniseEitherBuild(errorClass);
}

/** Whether `value` is an error of one of the package's classes, from either build. */
export function isBranded(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[ERROR_CLASS] !== undefined
  );
}

/**
 * Makes `instanceof` on `errorClass` and on its subclasses hold for their errors from either
 * build, so that `error instanceof ConnectionError` holds whichever build made the error.
 */
function recogniseEitherBuild(errorClass: ErrorClass): void {
  Object.defineProperty(errorClass, Symbol.hasInstance, {
    value: function hasInstance(this: ErrorClass, value: unknown): boolean {
      return isInstance(this, value);
    },
  });
}

/**
 * `value instanceof errorClass`, where an error of the same class from the package's other build
 * counts too: its prototype chain holds a prototype with the same name under `ERROR_CLASS`.
 * A subclass of an application's own has no name of its own, so it is checked as usual.
 */
function isInstance(errorClass: ErrorClass, value: unknown): boolean {
  if (Function.prototype[Symbol.hasInstance].call(errorClass, value)) return true;
  const name: unknown = Object.getOwnPropertyDescriptor(errorClass.prototype, ERROR_CLASS)?.value;
  if (name === undefined || typeof value !== 'object' || value === null) return false;
  for (
    let proto = Object.getPrototypeOf(value);
    proto !== null;
    proto = Object.getPrototypeOf(proto)
  ) {
    if (Object.getOwnPropertyDescriptor(proto, ERROR_CLASS)?.value === name) return true;
  }
  return false;
}
