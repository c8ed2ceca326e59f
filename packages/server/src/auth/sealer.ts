import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/**
 * Secrets keyward must keep readable but not in the clear (a form's one-time result, a webhook's signing secret):
 * AES-256-GCM under a key derived from the server secret and a purpose, so one purpose's ciphertext never opens as
 * another's. A stolen database alone does not reveal them.
 */
export class Sealer {
  readonly #key: Buffer;

  constructor(serverSecret: string, purpose: string) {
    this.#key = createHmac('sha256', serverSecret).update(purpose).digest();
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** The plain text; throws when the sealed text was altered or sealed under another secret or purpose. */
  open(sealed: string): string {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
