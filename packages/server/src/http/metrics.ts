import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics in a registry of this server's own (no process-wide singleton), with Node's standard process
 * metrics beside keyward's: event-loop lag (`nodejs_eventloop_lag_p50_seconds`, `_p99_`, `_max_`), GC, heap, handles.
 */
export class Metrics {
  readonly registry = new Registry();

  constructor() {
    // Event-loop delay sampled every 10 ms (prom-client's default): what a request waits behind other work.
    collectDefaultMetrics({ register: this.registry });
  }
  readonly #verifications = new Counter({
    name: 'keyward_verifications_total',
    help: 'Key verifications by result (VALID or the verify code)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly #latency = new Histogram({
    name: 'keyward_verify_duration_seconds',
    help: 'Time to verify a key, in seconds',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
    registers: [this.registry],
  });

  readonly #dropped = new Counter({
    name: 'keyward_usage_rows_dropped_total',
    help: 'Usage rows dropped: refused by storage (bad data), or over the pending cap while storage was unreachable',
    labelNames: ['kind'],
    registers: [this.registry],
  });

  usageRowsDropped(kind: string, rows: number): void {
    this.#dropped.inc({ kind }, rows);
  }

  /** `keyward_usage_pending_rows`: usage waiting to be written, read when metrics are scraped. */
  watchPending(read: () => number): void {
    new Gauge({
      name: 'keyward_usage_pending_rows',
      help: 'Usage rows (counters, request-log rows, audit events) waiting to be written',
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** One counter child per result, looked up once: prom-client hashes the labels on every `inc({ result })`. */
  readonly #byResult = new Map<string, { inc(): void }>();

  observeVerify(result: string, startedNs: bigint): void {
    let counter = this.#byResult.get(result);
    if (!counter) {
      counter = this.#verifications.labels({ result });
      this.#byResult.set(result, counter);
    }
    counter.inc();
    this.#latency.observe(Number(process.hrtime.bigint() - startedNs) / 1e9);
  }
}
