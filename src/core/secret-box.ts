import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Webhook secrets at rest: AES-256-GCM under one installation key. The stored text names its
 * format (`v1.<iv>.<tag>.<ciphertext>`, base64 parts), so a later format or key scheme can sit
 * beside this one and plain rows written before encryption are told apart.
 */

export const SECRET_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';
const BASE64 = '[A-Za-z0-9+/]*={0,2}';
// Exact lengths for the IV (12 bytes) and tag (16 bytes): a plain secret that merely starts
// with "v1." is not mistaken for an encrypted one.
const ENCRYPTED = new RegExp(`^${VERSION}\\.[A-Za-z0-9+/]{16}\\.[A-Za-z0-9+/]{22}==\\.${BASE64}$`);
/** Stored texts whose secret is kept decrypted, at most (see SecretBox.decrypt). */
const DECRYPTED_KEPT = 20_000;

/** True when `text` has the shape `SecretBox.encrypt` produces (not whether it decrypts). */
export function isEncrypted(text: string): boolean {
  return ENCRYPTED.test(text);
}

/** Thrown when a stored value cannot be decrypted; never carries the value or the key. */
export class SecretDecryptionError extends Error {
  override name = 'SecretDecryptionError';
}

export interface SecretBoxForThread {
  key: Uint8Array;
  source: string;
}

export class SecretBox {
  readonly #key: Buffer;
  readonly #decrypted = new Map<string, string>();

  /** `source` says where the key came from (a variable or file name), for error messages. */
  constructor(
    key: Buffer,
    readonly source = 'the encryption key',
  ) {
    if (key.length !== SECRET_KEY_BYTES) throw new Error(`an encryption key must be ${SECRET_KEY_BYTES} bytes`);
    // A private copy: the caller's buffer may be reused or wiped.
    this.#key = Buffer.from(key);
  }

  /**
   * What a thread of this process needs to build the same box (structured-cloned by
   * postMessage, never leaving the process). The store's own thread decrypts what it claims.
   */
  forThread(): SecretBoxForThread {
    return { key: Uint8Array.from(this.#key), source: this.source };
  }

  static fromThread(shared: SecretBoxForThread): SecretBox {
    return new SecretBox(Buffer.from(shared.key), shared.source);
  }

  /** A fresh random IV every time, so the same secret never encrypts to the same text twice. */
  encrypt(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64'));
    return [VERSION, ...parts].join('.');
  }

  /**
   * Checks the tag before returning anything: a wrong key or a changed byte both throw. Every
   * claim decrypts the secrets of the webhooks it sends to, and setting up AES-GCM costs more
   * than the rest of a claim per webhook; a stored text always decrypts to the same secret under
   * this key, so what was decrypted is kept (never stale, emptied when full).
   */
  decrypt(text: string): string {
    const known = this.#decrypted.get(text);
    if (known !== undefined) return known;
    const plain = this.#decryptFresh(text);
    if (this.#decrypted.size >= DECRYPTED_KEPT) this.#decrypted.clear();
    this.#decrypted.set(text, plain);
    return plain;
  }

  #decryptFresh(text: string): string {
    if (!isEncrypted(text)) throw new SecretDecryptionError('the stored secret is not in the encrypted v1 format');
    const [, iv, tag, ciphertext] = text.split('.').map((part) => Buffer.from(part, 'base64'));
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretDecryptionError(
        `a stored secret cannot be decrypted with ${this.source}: the key is not the one it was encrypted with, or the value is damaged`,
      );
    }
  }

  isEncrypted(text: string): boolean {
    return isEncrypted(text);
  }

  /** Plain text is encrypted; text that is encrypted already is kept as it is. */
  encryptIfPlain(text: string): string {
    return isEncrypted(text) ? text : this.encrypt(text);
  }
}
