/**
 * A store process whose clock is wrong, for spec/server-clock.spec.ts: `Date` is shifted by
 * `SHIFT_MS` before the store is loaded, as on an app server whose clock runs fast or slow. It
 * runs one action on the spec's collection, prints one JSON line and exits.
 *
 * Environment: `MONGODB_URI`, `SPEC_DATABASE`, `SPEC_COLLECTION`, `SHIFT_MS`, and `ACTION`:
 * - `sweep`: `deleteExpired()`; prints `{ "deleted": n }`.
 * - `read:<sid>,<sid>…`: `get` of each; prints `{ "served": [sids found] }`.
 * - `write:<sid>`: `set` of a session whose cookie expires in an hour by this process's clock,
 *   as express-session computes it; prints `{ "outcome": "created" | … }`.
 * - `touch:<sid>`: `touch` of that session with such a cookie; prints `{ "touched": true | false }`.
 * Every line also gives the codes of the process warnings emitted (`warnings`).
 */
const shift = Number(process.env.SHIFT_MS ?? '0');
const RealDate = Date;
class ShiftedDate extends RealDate {
  constructor(...args: ConstructorParameters<typeof Date> | []) {
    if (args.length === 0) super(RealDate.now() + shift);
    else super(...(args as ConstructorParameters<typeof Date>));
  }

  static override now(): number {
    return RealDate.now() + shift;
  }
}
globalThis.Date = ShiftedDate as DateConstructor;

const warnings: string[] = [];
process.on('warning', (warning: Error & { code?: string }) => warnings.push(warning.code ?? ''));

const { SessionRepository } = await import('../../lib/index.js');
const { MONGODB_URI: uri, SPEC_DATABASE: databaseName, SPEC_COLLECTION: collection } = process.env;
if (uri === undefined || databaseName === undefined || collection === undefined) {
  throw new Error('MONGODB_URI, SPEC_DATABASE and SPEC_COLLECTION must be set');
}
const repository = new SessionRepository({
  uri,
  databaseName,
  collection,
  autoRemove: 'disabled',
  manageIndexes: false,
  touchAfterMs: 0,
});
try {
  const action = process.env.ACTION ?? '';
  const [kind, argument = ''] = action.split(':');
  let result: Record<string, unknown>;
  if (kind === 'sweep') {
    result = { deleted: await repository.deleteExpired() };
  } else if (kind === 'read') {
    const served: string[] = [];
    for (const sid of argument.split(',')) {
      if ((await repository.get(sid)) !== null) served.push(sid);
    }
    result = { served };
  } else if (kind === 'write') {
    const cookie = { expires: new Date(Date.now() + 60 * 60 * 1000), originalMaxAge: 3_600_000 };
    result = { outcome: await repository.set(argument, { cookie, views: 1 }) };
  } else if (kind === 'touch') {
    const cookie = { expires: new Date(Date.now() + 60 * 60 * 1000), originalMaxAge: 3_600_000 };
    result = { touched: await repository.touch(argument, { cookie, views: 1 }) };
  } else {
    throw new Error(`ACTION names no known kind: ${action}`);
  }
  // Warnings are emitted on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  console.log(JSON.stringify({ ...result, warnings }));
} finally {
  await repository.close();
}
