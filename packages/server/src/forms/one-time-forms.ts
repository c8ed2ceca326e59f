import { KeywardError, randomBase62 } from '@keyward/core';
import { Sealer } from '../auth/sealer.js';
import type { Clock } from '../ids.js';
import type { FormStore } from '../storage/store.js';

/** `frm_`, the time it was issued (base 36, 9 characters), 16 random base62 characters. */
const TOKEN = /^frm_([0-9a-z]{9})[0-9A-Za-z]{16}$/;
/** How long a rendered form may be posted; its claim is remembered as long, so a late resend still acts no more. */
const FORM_TTL_MS = 12 * 3_600_000;
/** How long the secret a form made waits to be shown (once) on the page the post redirects to. */
const SECRET_TTL_MS = 15 * 60_000;

/** What a dashboard action did: where its result is shown, and a secret (raw key, invitation link) to show once. */
export interface FormOutcome<S> {
  location: string;
  secret?: S;
}

/**
 * Dashboard forms follow POST-redirect-GET with a one-time token in every form. The first post of a token acts and
 * redirects to its result, with the secret it made sealed (AES-256-GCM under a key derived from the server secret)
 * in storage for one read; the same post sent again (reload, back button, double click) acts no more and is
 * redirected to the same result, without the secret. Storage-backed, so it holds across instances.
 */
export class OneTimeForms {
  readonly #sealer: Sealer;

  constructor(
    private readonly store: FormStore,
    secret: string,
    private readonly clock: Clock,
  ) {
    this.#sealer = new Sealer(secret, 'keyward one-time form secrets');
  }

  /** A fresh token for a form about to be rendered. Nothing is stored until it is posted. */
  issue(): string {
    return `frm_${this.clock.now().toString(36).padStart(9, '0')}${randomBase62(16)}`;
  }

  /**
   * Runs `act` once per token and session. Returns where to redirect: the result (with `shown=<token>` when there
   * is a secret to show) the first time; the result without it, or `fallback` while the first post still acts,
   * every time after.
   */
  async run<S>(sessionId: string, token: unknown, fallback: string, act: () => Promise<FormOutcome<S>>): Promise<string> {
    const issuedAt = typeof token === 'string' ? Number.parseInt(TOKEN.exec(token)?.[1] ?? '', 36) : Number.NaN;
    const now = this.clock.now();
    // A token older than its claim's memory could be claimed afresh and act twice: refused instead.
    if (typeof token !== 'string' || Number.isNaN(issuedAt) || issuedAt > now + 60_000 || now - issuedAt > FORM_TTL_MS) {
      throw new KeywardError('invalid_request', 'This form has expired or is incomplete: reload the page and try again.');
    }
    if (!(await this.store.claimForm(token, sessionId, issuedAt + FORM_TTL_MS + 60_000))) {
      return (await this.store.formResult(token, sessionId))?.location ?? fallback;
    }
    let outcome: FormOutcome<S>;
    try {
      outcome = await act();
    } catch (error) {
      await this.store.releaseForm(token);
      throw error;
    }
    const sealed =
      outcome.secret === undefined ? null : this.#sealer.seal(JSON.stringify({ until: now + SECRET_TTL_MS, secret: outcome.secret }));
    await this.store.completeForm(token, outcome.location, sealed);
    if (sealed === null) return outcome.location;
    return `${outcome.location}${outcome.location.includes('?') ? '&' : '?'}shown=${token}`;
  }

  /** The secret a form's result shows, once: null when it was shown already, expired, or belongs to another session. */
  async reveal<S>(sessionId: string, token: unknown): Promise<S | null> {
    if (typeof token !== 'string' || !TOKEN.test(token)) return null;
    const sealed = await this.store.takeFormSecret(token, sessionId);
    if (sealed === null) return null;
    try {
      const { until, secret } = JSON.parse(this.#sealer.open(sealed)) as { until: number; secret: S };
      return until > this.clock.now() ? secret : null;
    } catch {
      return null;
    }
  }
}
