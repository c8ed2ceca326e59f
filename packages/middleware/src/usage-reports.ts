/** Requests answered from the local cache, as `POST /v1/verifier/usage` takes them: alike ones (same key, address, method and path) in one row. */
export interface ReportedRequests {
  key_id: string;
  org_id: string;
  /** The last of them (epoch ms). */
  at: number;
  method: string;
  path: string;
  ip: string;
  count: number;
  /** Credits they spent together. */
  cost: number;
}

/** Who made the requests of one verdict: the same for all of them. */
export interface Requester {
  keyId: string;
  orgId: string;
  ip: string;
}

/** Rows sent in one report at most (the endpoint takes 10,000). */
const BATCH = 5_000;
/** Rows kept while keyward cannot be reached; past this, new kinds of request are dropped (and counted). */
const MAX_PENDING = 100_000;

/**
 * Reports the requests a remote verifier answered itself, in batches: every `flushMs`, one report in flight at a
 * time. Requests alike (one verdict, same method and path) are counted in one row, so that a busy API costs a
 * counter increment per request, not an object. Rows that could not be sent (keyward away) are kept and sent later,
 * up to a bound; a report keyward refuses (4xx) is dropped and said once.
 */
export class UsageReports {
  /** Per requester (a verdict: identity is the key), per method and path, the row being counted. */
  #counting = new Map<Requester, Map<string, ReportedRequests>>();
  #rows = 0;
  #unsent: ReportedRequests[] = [];
  #sending: Promise<void> | null = null;
  readonly #timer: ReturnType<typeof setInterval>;
  #refusedSaid = false;
  /** Requests not reported because too many rows were waiting. */
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

  /** Rows waiting to be sent. */
  get pending(): number {
    return this.#rows + this.#unsent.length;
  }

  add(who: Requester, method: string, path: string, cost: number, at: number): void {
    let rows = this.#counting.get(who);
    if (!rows) {
      rows = new Map();
      this.#counting.set(who, rows);
    }
    const kind = method === 'GET' ? path : `${method} ${path}`;
    const row = rows.get(kind);
    if (row) {
      row.count++;
      row.cost += cost;
      row.at = at;
      return;
    }
    if (this.pending >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    rows.set(kind, { key_id: who.keyId, org_id: who.orgId, ip: who.ip, method, path, count: 1, cost, at });
    this.#rows++;
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
    for (const rows of this.#counting.values()) for (const row of rows.values()) this.#unsent.push(row);
    this.#counting = new Map();
    this.#rows = 0;
    while (this.#unsent.length > 0) {
      const batch = this.#unsent.slice(0, BATCH);
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
      this.#unsent = this.#unsent.slice(batch.length);
      if (!response.ok && !this.#refusedSaid) {
        this.#refusedSaid = true;
        this.say(`keyward refused a usage report (${response.status}); requests answered from the local cache were not counted`);
      }
    }
  }
}
