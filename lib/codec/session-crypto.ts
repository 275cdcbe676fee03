/**
 * Encryption at rest: the stored session sealed with AES-256-GCM under the first of
 * `encryption.keys`, and opened with whichever listed key its key id names, so that keys rotate
 * by putting the new one first. Part of the codec, which hands it the session in its clear stored
 * form (BSON bytes of the document form, or the serializer's string) and the stored id.
 *
 * The sealed form is one BSON Binary of the user-defined subtype 0x80, the `session` field's
 * whole value:
 *
 *   version (1) | form (1) | key id length (1) | key id | IV (12) | tag (16) | ciphertext
 *
 * One binary value rather than a document of fields: it costs no base64 and no field names, a
 * clear session (a document or a string) can never be mistaken for it, nor it for one, and the
 * header is authenticated with the ciphertext. The additional authenticated data is the header
 * followed by the stored id, so a sealed session copied into another session's document, or
 * given another key id or form, does not open.
 */
import {
  type CipherGCM,
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type DecipherGCM,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { types } from 'node:util';
import { BSON } from 'mongodb';
import { SessionDecryptionError } from '../errors/errors.js';
import { describeValue } from '../support/values.js';
import { isWellFormed } from './bson-form.js';

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
    /** The key's id, stored beside each ciphertext to find the key again. */
    readonly id: string;
    /** The 32-byte AES key. */
    readonly key: KeyObject;
  }>;
}

/** What the sealed bytes hold once opened: BSON of the document form, or a string form's UTF-8. */
export type SealedForm = 'document' | 'string';

/** BSON's first user-defined binary subtype: marks the store's sealed sessions. */
export const SEALED_SUBTYPE = 0x80;
const VERSION = 1;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_KEY_ID_BYTES = 255;
const FORMS: readonly SealedForm[] = ['document', 'string'];

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

/**
 * Whether a stored `session` value is a sealed session: the binary, or the `Buffer` reads make of
 * it (`promoteBuffers`, which the session's own values need, promotes every subtype, so the
 * subtype is lost) when it starts with a header this store writes. A clear session is never
 * binary: the codec refuses a `Buffer` as a session.
 */
export function isSealed(stored: unknown): stored is BSON.Binary | Uint8Array {
  if (types.isUint8Array(stored)) {
    return (
      stored.length >= 4 + IV_BYTES + TAG_BYTES &&
      stored[0] === VERSION &&
      (stored[1] ?? FORMS.length) < FORMS.length &&
      (stored[2] ?? 0) > 0
    );
  }
  return (
    typeof stored === 'object' &&
    stored !== null &&
    (stored as { _bsontype?: unknown })._bsontype === 'Binary' &&
    (stored as { sub_type?: unknown }).sub_type === SEALED_SUBTYPE
  );
}

/** Seals `plaintext` under the first key, bound to the stored id. */
export function seal(
  encryption: ResolvedEncryption,
  form: SealedForm,
  plaintext: Uint8Array,
  storedId: string,
): BSON.Binary {
  const [current] = encryption.keys;
  if (current === undefined) throw new Error('encryption has no keys');
  const header = headerOf(form, current.id);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', current.key, iv) as CipherGCM;
  cipher.setAAD(additionalData(header, storedId));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const sealed = Buffer.concat([header, iv, cipher.getAuthTag(), ciphertext]);
  return new BSON.Binary(sealed, SEALED_SUBTYPE);
}

/**
 * Opens a sealed session stored under `storedId`. Throws `SessionDecryptionError`, which names
 * what failed (never a key, a key id or any content), for every sealed value it cannot open.
 */
export function open(
  encryption: ResolvedEncryption | undefined,
  sealed: BSON.Binary | Uint8Array,
  storedId: string,
): { readonly form: SealedForm; readonly plaintext: Buffer } {
  if (encryption === undefined) {
    throw new SessionDecryptionError('it is encrypted, and no `encryption` keys are configured');
  }
  const view = types.isUint8Array(sealed) ? sealed : sealed.buffer.subarray(0, sealed.position);
  const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  if (bytes.length < 3) throw new SessionDecryptionError('the encrypted session is truncated');
  if (bytes[0] !== VERSION) {
    throw new SessionDecryptionError(
      `its encrypted form (version ${bytes[0]}) is not one this store writes`,
    );
  }
  const form = FORMS[bytes[1] ?? -1];
  const idEnd = 3 + (bytes[2] ?? 0);
  const tagEnd = idEnd + IV_BYTES + TAG_BYTES;
  if (form === undefined || bytes.length < tagEnd) {
    throw new SessionDecryptionError('the encrypted session is truncated or malformed');
  }
  const keyId = bytes.toString('utf8', 3, idEnd);
  const key = encryption.keys.find((candidate) => candidate.id === keyId)?.key;
  if (key === undefined) {
    throw new SessionDecryptionError(
      'it was encrypted with a key whose id is not among `encryption.keys`',
    );
  }
  const decipher = createDecipheriv(
    'aes-256-gcm',
    key,
    bytes.subarray(idEnd, idEnd + IV_BYTES),
  ) as DecipherGCM;
  decipher.setAAD(additionalData(bytes.subarray(0, idEnd), storedId));
  decipher.setAuthTag(bytes.subarray(idEnd + IV_BYTES, tagEnd));
  try {
    const plaintext = Buffer.concat([decipher.update(bytes.subarray(tagEnd)), decipher.final()]);
    return { form, plaintext };
  } catch {
    throw new SessionDecryptionError(
      "it does not authenticate: it was altered, copied from another session's document, or encrypted with another key of the same id",
    );
  }
}

function headerOf(form: SealedForm, keyId: string): Buffer {
  const id = Buffer.from(keyId, 'utf8');
  return Buffer.concat([Buffer.from([VERSION, FORMS.indexOf(form), id.length]), id]);
}

function additionalData(header: Uint8Array, storedId: string): Buffer {
  return Buffer.concat([header, Buffer.from(storedId, 'utf8')]);
}
