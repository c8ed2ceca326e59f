/** A request answered from the local cache, as `POST /v1/verifier/usage` takes it. */
export interface ReportedRequest {
  key_id: string;
  org_id: string;
  at: number;
  method: string;
  path: string;
  ip: string;
  cost?: number;
}

/** Rows sent in one report at most (the endpoint takes 10,000). */
const BATCH = 5_000;
/** Rows kept while keyward cannot be reached; past this the oldest are dropped (and counted). */
const MAX_PENDING = 200_000;

/**
 * Reports the requests a remote verifier answered itself, in batches: every `flushMs` (and at once past a batch's
 * worth), one report in flight at a time. Rows that could not be sent (keyward away) are kept and sent later, up to
 * a bound; a report keyward refuses (4xx) is dropped and said once.
 */
export class UsageReports {
  #pending: ReportedRequest[] = [];
  #sending: Promise<void> | null = null;
  readonly #timer: ReturnType<typeof setInterval>;
  #refusedSaid = false;
  /** Rows dropped because too many were waiting. */
  dropped = 0;

  constructor(
    private readonly url: string,
    private readonly credential: string,
    private readonly doFetch: typeof fetch,
    flushMs: number,
    private readonly say: (line: string) => void,
  ) {
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref?.();
  }

  get pending(): number {
    return this.#pending.length;
  }

  add(row: ReportedRequest): void {
    this.#pending.push(row);
    if (this.#pending.length > MAX_PENDING) {
      this.#pending.shift();
      this.dropped++;
    }
    if (this.#pending.length === BATCH) void this.flush();
  }

  /** Sends what is waiting; resolves when this round is done (whether or not keyward took it). */
  flush(): Promise<void> {
    this.#sending ??= this.#send().finally(() => {
      this.#sending = null;
    });
    return this.#sending;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  async #send(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.slice(0, BATCH);
      let response: Response;
      try {
        response = await this.doFetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.credential}` },
          body: JSON.stringify({ requests: batch }),
          signal: AbortSignal.timeout(10_000),
        });
        await response.body?.cancel();
      } catch {
        return; // keyward away: kept for the next round (the outage is said once, by the verifier)
      }
      if (response.status >= 500) return;
      this.#pending = this.#pending.slice(batch.length);
      if (!response.ok && !this.#refusedSaid) {
        this.#refusedSaid = true;
        this.say(
          `keyward refused a usage report (${response.status}); ${batch.length} requests answered from the local cache were not counted`,
        );
      }
    }
  }
}
