/**
 * The shape of one option's declaration in the option table (option-table.ts), after the MongoDB
 * driver's `OptionDescriptor`: everything the store knows of an option, read by one interpreter
 * (options.ts) for resolving, for `store.options`, and for the known names.
 */
import type { ClientSource } from './option-types.js';
import type { Check } from './value-checks.js';

/** What `store.options` may read to show an option as version 5 did. */
export interface ShownFrom {
  readonly source: ClientSource;
  readonly databaseName: string | undefined;
}

/**
 * One option: `Given` is what users may give (the public option's type), `Resolved` what the
 * layers below read once it is checked, `Field` the field of `ResolvedOptions` that holds it when
 * that is not the option's own name.
 */
export interface OptionDescriptor<Given, Resolved = Given, Field extends string = never> {
  /** Checks a value given (never `undefined`), the default included; see value-checks.ts. */
  readonly check: Check<Resolved>;
  /** The value when none is given (or `null`, as version 5 took it); `undefined`: off unless given. */
  readonly default: Given;
  /** Whether a numeric string counts as its number, as version 5 took `expires: '60000'`. */
  readonly numeric?: boolean;
  /** The field of `ResolvedOptions` that holds the result, when not the option's own name. */
  readonly field?: Field;
  /**
   * What `store.options` shows under the option's name (version 5's, for version 5's options),
   * when not the resolved value; `false` for nothing.
   */
  readonly shown?: false | ((resolved: ShownFrom) => unknown);
}

/** An option resolved together with the others of its group into one field (client-source.ts). */
export interface SourceDescriptor<Given, Resolved = Given>
  extends OptionDescriptor<Given, Resolved> {
  /** The group: the options that say where the client comes from, resolved into `source`. */
  readonly group: 'source';
}

/** Declares an option (an identity: it gives the entry its types). */
export function option<Given, Resolved = Given, Field extends string = never>(
  descriptor: OptionDescriptor<Given, Resolved, Field>,
): OptionDescriptor<Given, Resolved, Field> {
  return descriptor;
}

/** Declares an option of the client's source, resolved into `source` (client-source.ts). */
export function sourceOption<Given, Resolved = Given>(
  descriptor: OptionDescriptor<Given, Resolved>,
): SourceDescriptor<Given, Resolved> {
  return { ...descriptor, group: 'source' };
}

/** Any option of the table, as the interpreter reads it. */
export type AnyOption = OptionDescriptor<unknown, unknown, string> & { readonly group?: 'source' };

/** What users may give for an option. */
export type GivenOf<D> = D extends OptionDescriptor<infer Given, unknown, string> ? Given : never;

/** What the layers below read of an option: `undefined` too when it is off by default. */
export type ResolvedOf<D> =
  D extends OptionDescriptor<infer Given, infer Resolved, string>
    ? Resolved | Extract<Given, undefined>
    : never;

/** The field of `ResolvedOptions` that holds option `K`. */
export type FieldOf<D, K> =
  D extends OptionDescriptor<unknown, unknown, infer Field>
    ? [Field] extends [never]
      ? K
      : Field
    : K;
