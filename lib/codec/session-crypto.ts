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
  type DecipherGCM,
  randomBytes,
} from 'node:crypto';
import { types } from 'node:util';
import { BSON } from 'mongodb';
import { SessionDecryptionError } from '../errors/classes.js';
import type { ResolvedEncryption } from '../options/encryption-option.js';

/** What the sealed bytes hold once opened: BSON of the document form, or a string form's UTF-8. */
export type SealedForm = 'document' | 'string';

/** BSON's first user-defined binary subtype: marks the store's sealed sessions. */
export const SEALED_SUBTYPE = 0x80;
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMS: readonly SealedForm[] = ['document', 'string'];

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
