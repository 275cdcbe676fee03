/**
 * Option names: this store's, the ones it does not know (each with the nearest known name), and
 * connect-mongo's, refused with what to write instead. Pure functions of the options: no I/O. The
 * caller emits the warnings worded here. No message ever holds an option's value: names only.
 */
import { OPTIONS } from './option-table.js';
import { list, shown } from './shown-names.js';

/** `code` of the process warning for an option name this store does not know. */
export const UNKNOWN_OPTION_WARNING_CODE = 'SESSION_STORE_UNKNOWN_OPTION';

/** Option names of this store, every entry of the option table: none of them is reported. */
export const KNOWN_OPTION_NAMES = Object.keys(OPTIONS) as ReadonlyArray<keyof typeof OPTIONS>;

/** A connect-mongo option name, this store's equivalent and how to convert the value. */
interface ConnectMongoName {
  readonly name: string;
  readonly use: string;
  readonly conversion: string;
}

const AS_SERIALIZER = '`serializer: { stringify, parse }`, a session to a string and back';
const AS_ENCRYPTION = '`encryption: { keys: [{ id, key }] }`, see docs/security.md';

/**
 * connect-mongo's option names that would otherwise be ignored, silently changing where or how
 * sessions are stored.
 */
export const CONNECT_MONGO_NAMES: readonly ConnectMongoName[] = (
  [
    ['mongoUrl', 'uri', 'the same connection string'],
    ['mongoOptions', 'connectionOptions', 'the same MongoClient options'],
    ['dbName', 'databaseName', 'the same name'],
    ['collectionName', 'collection', 'the same name'],
    ['ttl', 'expires', 'in milliseconds: `expires: ttl * 1000`'],
    ['touchAfter', 'touchAfterMs', 'in milliseconds: `touchAfterMs: touchAfter * 1000`'],
    [
      'autoRemoveInterval',
      'autoRemoveIntervalMs',
      'in milliseconds: `autoRemoveIntervalMs: autoRemoveInterval * 60_000`',
    ],
    [
      'stringify',
      'serializer',
      "`stringify: true` is `serializer: 'json'`, `stringify: false` is `serializer: 'document'`",
    ],
    ['serialize', 'serializer', AS_SERIALIZER],
    ['unserialize', 'serializer', AS_SERIALIZER],
    ['crypto', 'encryption', AS_ENCRYPTION],
    ['cryptoAdapter', 'encryption', AS_ENCRYPTION],
    ['writeOperationOptions', 'writeConcern', 'its write concern (`w`, `j`, `wtimeoutMS`)'],
    [
      'timestamps',
      'nothing',
      'this store keeps no createdAt or updatedAt fields; remove the option',
    ],
  ] as const
).map(([name, use, conversion]) => ({ name, use, conversion }));

const CONNECT_MONGO = new Map(CONNECT_MONGO_NAMES.map((entry) => [entry.name, entry]));

/**
 * Throws for connect-mongo's option names, naming this store's equivalent of each one given.
 * Names match exactly, as connect-mongo reads them.
 * @throws {TypeError}
 */
export function assertNoConnectMongoNames(options: object): void {
  const found = Object.keys(options).flatMap((name) => CONNECT_MONGO.get(name) ?? []);
  if (found.length === 0) return;
  const advice = found
    .map(({ name, use, conversion }) =>
      use === 'nothing'
        ? `\`${name}\` has no equivalent (${conversion})`
        : `instead of \`${name}\`, \`${use}\` (${conversion})`,
    )
    .join('; ');
  throw new TypeError(
    `Expected this store's option names, got connect-mongo's ${list(found.map((entry) => entry.name))}: ${advice}`,
  );
}

/**
 * The option names this store does not know (connect-mongo's excepted: see
 * `assertNoConnectMongoNames`), each with the nearest known name when one is close.
 */
export function checkOptionNames(
  options: object,
  known: readonly string[] = KNOWN_OPTION_NAMES,
): { unknown: Array<{ name: string; nearest: string | undefined }> } {
  const names = new Set(known);
  return {
    unknown: Object.keys(options)
      .filter((name) => !names.has(name) && !CONNECT_MONGO.has(name))
      .map((name) => ({ name, nearest: nearestName(name, known) })),
  };
}

/** The warning for one unknown option name. */
export function unknownOptionWarning({
  name,
  nearest,
}: {
  readonly name: string;
  readonly nearest: string | undefined;
}): string {
  const hint = nearest === undefined ? '' : ` Did you mean \`${nearest}\`?`;
  return `connect-mongodb-session: unknown option \`${shown(name)}\` is ignored.${hint}`;
}

/**
 * The known name closest to `name` in edit distance, letter case aside, when close enough to be
 * a slip: at most a third of the name's length (and at least 1).
 */
function nearestName(name: string, known: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance with transpositions (optimal string alignment). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 64) return Math.abs(a.length - b.length);
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, (before[j - 2] ?? 0) + 1);
      }
      current.push(distance);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}
