/** One answer under load: when it came back (ms since the load started), its status (0: no answer at all), how long it took. */
export interface Shot {
  at: number;
  status: number;
  ms: number;
  retryAfter: string | null;
}

/**
 * A fixed load: `concurrency` loops, each sending the request `send` makes as soon as the previous one is
 * answered, until stopped. Records every answer, and a failed connection as status 0.
 */
export class Load {
  readonly shots: Shot[] = [];
  readonly started = performance.now();
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(send: () => Promise<Response>, concurrency: number) {
    this.#loops = Array.from({ length: concurrency }, () => this.#loop(send));
  }

  async #loop(send: () => Promise<Response>): Promise<void> {
    while (this.#running) {
      const t = performance.now();
      let status = 0;
      let retryAfter: string | null = null;
      try {
        const res = await send();
        await res.arrayBuffer();
        status = res.status;
        retryAfter = res.headers.get('retry-after');
      } catch {
        // A refused or reset connection: recorded, and the loop goes on after a breath.
        await new Promise((r) => setTimeout(r, 20));
      }
      const now = performance.now();
      this.shots.push({ at: now - this.started, status, ms: now - t, retryAfter });
    }
  }

  /** Milliseconds since the load started. */
  now(): number {
    return performance.now() - this.started;
  }

  async stop(): Promise<Shot[]> {
    this.#running = false;
    await Promise.all(this.#loops);
    return this.shots;
  }
}

/** Answers counted by status, e.g. `{200: 5120, 503: 12}`. */
export function byStatus(shots: Shot[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const s of shots) counts[s.status] = (counts[s.status] ?? 0) + 1;
  return counts;
}

/** The p-th percentile of the answers' durations, in ms. */
export function percentile(shots: Shot[], p: number): number {
  const ms = shots.map((s) => s.ms).sort((a, b) => a - b);
  return ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))] ?? 0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
