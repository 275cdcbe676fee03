/**
 * The `encryption` option: what users give, the keys once checked, and the check. The codec
 * (codec/session-crypto.ts) seals and opens sessions with the checked keys.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { types } from 'node:util';
import { describeValue, isWellFormed } from '../support/values.js';

/** One key of the `encryption` option. */
export interface EncryptionKey {
  /** A name for the key, stored with every session it encrypts (not secret): 1 to 255 bytes of UTF-8. */
  readonly id: string;
  /** 32 random bytes. */
  readonly key: Buffer | Uint8Array;
}

/** The `encryption` option: AES-256-GCM, the first key encrypts and every listed key decrypts. */
export interface EncryptionOption {
  /** The keys, the first encrypting every write; the others still decrypt what they wrote (rotation). */
  readonly keys: readonly EncryptionKey[];
}

/** The keys once checked; each held as a `KeyObject`, which `util.inspect` never prints. */
export interface ResolvedEncryption {
  /** The keys in the order given, the first encrypting. */
  readonly keys: ReadonlyArray<{
    /**
     * The key's id, stored beside each ciphertext to find the key again.
     */
    readonly id: string;
    /**
     * The 32-byte AES key.
     */
    readonly key: KeyObject;
  }>;
}

/** AES-256 takes a key of 32 bytes. */
const KEY_BYTES = 32;
/** The sealed form stores the key id's length in one byte. */
const MAX_KEY_ID_BYTES = 255;

/**
 * The `encryption` option, checked at construction; every refusal is a `TypeError` naming the
 * option and what was wrong, never quoting a key's bytes.
 */
export function encryptionOption(value: unknown): ResolvedEncryption | undefined {
  if (value === undefined) return undefined;
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (typeof value !== 'object' || value === null || !Array.isArray(keys) || keys.length === 0) {
    throw new TypeError(
      `Expected \`encryption\` to be { keys: [{ id, key }, …] } with at least one key, got ${describeValue(keys ?? value)}`,
    );
  }
  const seen = new Set<string>();
  const resolved = keys.map((entry: unknown, index) => {
    const name = `encryption.keys[${index}]`;
    const { id, key } = (entry ?? {}) as { id?: unknown; key?: unknown };
    // A lone surrogate would be stored as U+FFFD: sessions sealed under the key could not find it again.
    if (
      typeof id !== 'string' ||
      id === '' ||
      Buffer.byteLength(id) > MAX_KEY_ID_BYTES ||
      !isWellFormed(id)
    ) {
      throw new TypeError(
        `Expected \`${name}.id\` to be a well-formed string of 1 to ${MAX_KEY_ID_BYTES} bytes, got ${describeValue(id)}`,
      );
    }
    if (seen.has(id)) {
      throw new TypeError(
        `Expected the ids of \`encryption.keys\` to differ: \`${name}.id\` repeats an earlier one`,
      );
    }
    seen.add(id);
    if (!types.isUint8Array(key) || key.byteLength !== KEY_BYTES) {
      const got = types.isUint8Array(key) ? `${key.byteLength} bytes` : describeValue(key);
      throw new TypeError(
        `Expected \`${name}.key\` to be a Buffer or Uint8Array of exactly ${KEY_BYTES} bytes (for AES-256), got ${got}${typeof key === 'string' ? ' (decode it first, e.g. Buffer.from(key, "base64"))' : ''}`,
      );
    }
    return Object.freeze({ id, key: createSecretKey(key) });
  });
  return Object.freeze({ keys: Object.freeze(resolved) });
}
