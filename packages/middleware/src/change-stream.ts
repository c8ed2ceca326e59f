import { SseParser } from './sse.js';

/** A change as `GET /v1/verifier/events` names it. */
export type Change =
  | { type: 'key'; key_id: string }
  | { type: 'org'; org_id: string }
  | { type: 'creator'; org_id: string; user_id: string };

export interface ChangeStreamHandlers {
  /** A key, an organization or a creator's keys changed: drop what was kept about them. */
  change(change: Change): void;
  /** What was kept cannot be trusted any more (first connection, keyward restarted, or the gap was too long). */
  reset(): void;
  /** The stream is (again) up to date, or it is not: verdicts are only reused while it is. */
  live(live: boolean): void;
  /** keyward answered, or could not be reached (the reason in words). */
  reachable(): void;
  unreachable(reason: string): void;
  /** keyward refused the credential (status 401/403): said once by the caller, not an outage. */
  refused(status: number): void;
}

/** No byte (not even a heartbeat, sent every 15 s) for this long: the connection is taken as dead and made again. */
const SILENCE_MS = 45_000;
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 1_000;
const REFUSED_DELAY_MS = 30_000;

function isChange(v: unknown): v is Change {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  if (c.type === 'key') return typeof c.key_id === 'string';
  if (c.type === 'org') return typeof c.org_id === 'string';
  return c.type === 'creator' && typeof c.org_id === 'string' && typeof c.user_id === 'string';
}

/** Why a fetch failed, in a few words (its `cause` code when it has one), never the URL's credentials or a stack. */
export function reasonOf(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'no answer in time';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(error);
}

/**
 * Follows keyward's change stream: connects with the verifier credential, hands each change to its handlers, and
 * reconnects after any failure with a short backoff (at most 1 s, so that a keyward back from a restart is heard at
 * once), resuming from the last event id it saw. A Node 20 `fetch` body read as a stream; no dependency.
 */
export class ChangeStream {
  #lastEventId: string | undefined;
  #closed = false;
  #abort: AbortController | null = null;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;

  constructor(
    private readonly url: string,
    private readonly credential: string,
    private readonly doFetch: typeof fetch,
    private readonly on: ChangeStreamHandlers,
  ) {}

  start(): void {
    this.#loop ??= this.#run();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#abort?.abort();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let delay = FIRST_DELAY_MS;
    while (!this.#closed) {
      const abort = new AbortController();
      this.#abort = abort;
      let wait = delay;
      try {
        const response = await this.doFetch(this.url, {
          headers: {
            accept: 'text/event-stream',
            authorization: `Bearer ${this.credential}`,
            ...(this.#lastEventId ? { 'last-event-id': this.#lastEventId } : {}),
          },
          signal: abort.signal,
        });
        if (response.status === 401 || response.status === 403) {
          await response.body?.cancel();
          this.on.reachable();
          this.on.refused(response.status);
          wait = REFUSED_DELAY_MS;
        } else if (!response.ok || !response.body) {
          await response.body?.cancel();
          throw new Error(`the change stream answered ${response.status}`);
        } else {
          this.on.reachable();
          delay = FIRST_DELAY_MS;
          wait = delay;
          await this.#read(response.body, abort);
        }
      } catch (error) {
        if (this.#closed) break;
        this.on.unreachable(reasonOf(error));
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      } finally {
        this.on.live(false);
      }
      if (this.#closed) break;
      await new Promise<void>((ok) => {
        const timer = setTimeout(ok, wait + Math.random() * 100);
        timer.unref?.();
        this.#wake = () => {
          clearTimeout(timer);
          ok();
        };
      });
    }
  }

  async #read(body: ReadableStream<Uint8Array>, abort: AbortController): Promise<void> {
    const parser = new SseParser((e) => {
      if (e.id !== undefined) this.#lastEventId = e.id;
      if (e.event === 'change') {
        let change: unknown;
        try {
          change = JSON.parse(e.data);
        } catch {}
        // A change this version cannot read still means something changed: drop everything rather than guess.
        if (isChange(change)) this.on.change(change);
        else this.on.reset();
      } else if (e.event === 'reset') {
        this.on.reset();
        this.on.live(true);
      } else if (e.event === 'ready') this.on.live(true);
    });
    const decoder = new TextDecoder();
    let silence = setTimeout(() => abort.abort(), SILENCE_MS);
    silence.unref?.();
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(silence);
        silence = setTimeout(() => abort.abort(), SILENCE_MS);
        silence.unref?.();
        parser.push(decoder.decode(chunk, { stream: true }));
      }
    } finally {
      clearTimeout(silence);
    }
  }
}
