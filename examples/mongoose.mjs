/**
 * Sessions on the connection mongoose already has: the store is given mongoose's `MongoClient`,
 * shares its connection pool, and leaves it open when the store closes.
 *
 *   MONGODB_URI=mongodb://127.0.0.1:27017/ node examples/mongoose.mjs
 */
import { SessionRepository } from 'connect-mongodb-session';
import mongoose from 'mongoose';

await mongoose.connect(process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/', {
  dbName: 'example_mongoose',
});
const User = mongoose.model('User', new mongoose.Schema({ name: String }));
const ann = await User.create({ name: 'ann' });

// The same in express-session: `store: new MongoDBStore({ client: mongoose.connection.getClient(), … })`.
const sessions = new SessionRepository({
  client: mongoose.connection.getClient(),
  databaseName: 'example_mongoose',
});
const expires = new Date(Date.now() + 60 * 60 * 1000);
await sessions.set('sid-1', { cookie: { expires }, userId: ann.id });
const session = await sessions.get('sid-1');
console.log(`session sid-1 belongs to ${(await User.findById(session?.userId))?.name}`);

await sessions.clear();
await sessions.close(); // the store did not create mongoose's client, so it stays open

// mongoose goes on working on its connection.
console.log(`after store.close(): mongoose has ${await User.countDocuments()} user(s)`);
await mongoose.connection.dropDatabase();
await mongoose.disconnect();
