import { randomBytes } from 'node:crypto';
import type { Invalidation } from './invalidation-bus.js';

/**
 * One change as remote verifiers hear it: its position (`<epoch>-<seq>`, the SSE `id:`) and what changed; or a
 * `reset`, after which a verifier drops its whole cache (this instance missed changes: its bus was away).
 */
export interface FeedEvent {
  type: 'change' | 'reset';
  id: string;
  seq: number;
  /**
   * JSON of the change: `{"type":"key","key_id":…}`, `{"type":"org","org_id":…}` or
   * `{"type":"creator","org_id":…,"user_id":…}`; of a reset, `{"reason":…}`.
   */
  data: string;
}

/** Where a verifier that (re)connects starts: the events it missed, or `reset` when they cannot be told. */
export type Resume = { reset: false; events: FeedEvent[] } | { reset: true; reason: 'new' | 'restarted' | 'too_old' };

/** The wire form of a change: the key id (or the organization) it names. */
function dataOf(event: Invalidation): string {
  if (event.type === 'key') return JSON.stringify({ type: 'key', key_id: event.keyId });
  if (event.type === 'org') return JSON.stringify({ type: 'org', org_id: event.orgId });
  return JSON.stringify({ type: 'creator', org_id: event.orgId, user_id: event.userId });
}

/**
 * Every invalidation this instance learns of (its own and, over the bus, every other instance's), numbered, for the
 * remote verifiers connected to `GET /v1/verifier/events`. The numbers are this instance's: the epoch, drawn at
 * start, tells a verifier that reconnects to a restarted (or another) instance that it cannot resume and must drop
 * its cache. The last `capacity` events are kept so a verifier that reconnects soon misses nothing.
 */
export class ChangeFeed {
  #epoch = randomBytes(6).toString('hex');
  #seq = 0;
  readonly #ring: FeedEvent[] = [];
  readonly #listeners = new Set<(event: FeedEvent) => void>();

  constructor(private readonly capacity = 10_000) {}

  /** The position a verifier that has seen everything so far is at. */
  get position(): string {
    return `${this.#epoch}-${this.#seq}`;
  }

  get listeners(): number {
    return this.#listeners.size;
  }

  apply(event: Invalidation): void {
    const seq = ++this.#seq;
    const entry: FeedEvent = { type: 'change', id: `${this.#epoch}-${seq}`, seq, data: dataOf(event) };
    this.#ring.push(entry);
    if (this.#ring.length > this.capacity) this.#ring.shift();
    for (const listener of this.#listeners) listener(entry);
  }

  /** What a verifier whose last event was `lastEventId` (the SSE `Last-Event-ID`) missed. */
  resume(lastEventId: string | undefined): Resume {
    if (!lastEventId) return { reset: true, reason: 'new' };
    const dash = lastEventId.lastIndexOf('-');
    const epoch = lastEventId.slice(0, dash);
    const seq = Number(lastEventId.slice(dash + 1));
    if (dash < 0 || epoch !== this.#epoch || !Number.isInteger(seq) || seq > this.#seq) return { reset: true, reason: 'restarted' };
    const oldest = this.#ring[0]?.seq ?? this.#seq + 1;
    // Events after `seq` are all still here only when the oldest kept one follows it directly (or none came since).
    if (seq < this.#seq && oldest > seq + 1) return { reset: true, reason: 'too_old' };
    return { reset: false, events: this.#ring.filter((e) => e.seq > seq) };
  }

  /** Calls `listener` with every event from now on; returns the function that stops it. */
  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * This instance may have missed changes (its bus was away): a new epoch, so that no verifier resumes across the
   * gap, and every connected verifier is told to drop its cache.
   */
  reset(): void {
    this.#epoch = randomBytes(6).toString('hex');
    this.#seq = 0;
    this.#ring.length = 0;
    const entry: FeedEvent = { type: 'reset', id: this.position, seq: 0, data: JSON.stringify({ reason: 'missed_changes' }) };
    for (const listener of this.#listeners) listener(entry);
  }
}
