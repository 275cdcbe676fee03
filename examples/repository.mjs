/**
 * The repository used directly with `await`: no express-session, every method a promise.
 *
 *   MONGODB_URI=mongodb://127.0.0.1:27017/ node examples/repository.mjs
 */
import { SessionRepository } from 'connect-mongodb-session';

const sessions = new SessionRepository({
  uri: process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/',
  databaseName: 'example_repository',
});
await sessions.ready(); // optional: every operation waits for the connection anyway

const inAnHour = () => ({ expires: new Date(Date.now() + 60 * 60 * 1000) });
await sessions.set('sid-ann', { cookie: inAnHour(), user: { id: 1, name: 'ann' } });
await sessions.set('sid-bob', { cookie: inAnHour(), user: { id: 2, name: 'bob' } });
await sessions.set('sid-ann-phone', { cookie: inAnHour(), user: { id: 1, name: 'ann' } });

const ann = await sessions.get('sid-ann');
console.log(`sid-ann belongs to ${ann?.user.name}`);
console.log(`sessions stored: ${await sessions.length()}`);

// A cursor: one session in memory at a time, whatever the collection's size.
for await (const { id, session } of sessions) console.log(`${id}: user ${session.user.id}`);

// Log ann out of every device.
const destroyed = await sessions.destroyWhere({ 'user.id': 1 });
console.log(`logged out of ${destroyed} sessions; left: ${(await sessions.ids()).join(', ')}`);

await sessions.clear();
await sessions.close();
