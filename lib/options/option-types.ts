/**
 * The types of option values that are more than a number, a string or a boolean: what users give
 * (`serializer`, `autoRemove`, `transformId`) and where the client comes from once resolved.
 */
import type { MongoClient, MongoClientOptions } from 'mongodb';

/**
 * Who deletes expired sessions: `'native'`, the server's TTL monitor (the store falls back to
 * `'interval'` where the server has none); `'interval'`, the store itself every
 * `autoRemoveIntervalMs`; `'disabled'`, nobody (reads still ignore expired sessions).
 */
export type AutoRemoveOption = 'native' | 'interval' | 'disabled';

/** A serializer of your own: a session to a string and back, as connect-redis takes. */
export interface SessionSerializer {
  /** The session as a string, to store. */
  stringify(session: unknown): string;
  /** A stored string back into a session; what it throws makes the session unreadable. */
  parse(text: string): unknown;
}

/**
 * How a session is stored: `'document'`, as a BSON document MongoDB can query; `'json'`, as a
 * JSON string (version 5 and connect-mongo's default form); or a serializer of your own.
 */
export type SerializerOption = 'document' | 'json' | SessionSerializer;

/** Turns a session id into the key its session is stored under (connect-mongo's `transformId`). */
export type TransformId = (sid: string) => string;

// The fields' comments take three lines each: in a type literal, the declaration bundler moves a
// one-line comment onto the previous field's line, where editors no longer find it.
/** Where the repository's client comes from. */
export type ClientSource =
  | {
      /**
       * A client the repository creates, and closes.
       */
      readonly kind: 'uri';
      /**
       * The connection string.
       */
      readonly uri: string;
      /**
       * The options of the client, the store's defaults added.
       */
      readonly connectionOptions: MongoClientOptions;
    }
  | {
      /**
       * A client of the application's, never closed by the repository.
       */
      readonly kind: 'client';
      /**
       * That client.
       */
      readonly client: MongoClient;
    }
  | {
      /**
       * A client of the application's, once the promise resolves; never closed by the repository.
       */
      readonly kind: 'clientPromise';
      /**
       * Gives the promise; called again after a failed connection attempt.
       */
      readonly clientPromise: () => Promise<MongoClient>;
    };
