import { type Actor, authorize } from '../auth/authorization.js';
import { type Clock, sortableId } from '../ids.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { AccountStore, AuditEvent, AuditFilter, AuditStore, KeyStore } from '../storage/store.js';

/** Management actions are written at once (they are not on the hot path), so the log is current when read. */
export class AuditLog {
  readonly #listeners: ((event: AuditEvent) => Promise<void>)[] = [];

  constructor(
    private readonly store: AuditStore & AccountStore & KeyStore,
    private readonly clock: Clock,
  ) {}

  async write(actor: Actor, action: string, keyId: string | null, data: Record<string, unknown> = {}): Promise<void> {
    await this.#record({
      orgId: actor.orgId,
      actorType: actor.kind,
      actorId: actor.kind === 'key' && actor.keyId ? actor.keyId : actor.userId,
      action,
      keyId,
      data: actor.kind === 'key' ? { ...data, on_behalf_of: actor.userId } : data,
    });
  }

  /** An event keyward itself records, on a reporter's word (a leak report): actor type `system`, `actorId` the reporter. */
  async system(orgId: string, reporter: string, action: string, keyId: string | null, data: Record<string, unknown>): Promise<void> {
    await this.#record({ orgId, actorType: 'system', actorId: reporter, action, keyId, data });
  }

  async #record(event: Omit<AuditEvent, 'id' | 'at'>): Promise<void> {
    const at = this.clock.now();
    const written: AuditEvent = { ...event, id: sortableId('evt', at), at };
    await this.store.insertAudit([written]);
    for (const listen of this.#listeners) await listen(written);
  }

  /** Runs `listener` for every event written, awaited within the write (and so within its transaction). */
  listen(listener: (event: AuditEvent) => Promise<void>): void {
    this.#listeners.push(listener);
  }

  /**
   * Who the actors and keys of some events are, for people reading the log: `user:<id>` → e-mail (and name),
   * `key:<id>` → the key's name and `prefix…last4`. Every user in an organization's log acted in it (removed
   * members too, who keep their name there); keys are looked up in the organization only.
   */
  async names(actor: Actor, events: readonly AuditEvent[]): Promise<Map<string, string>> {
    authorize(actor, 'audit.read');
    const users = new Set<string>();
    const keys = new Set<string>();
    for (const e of events) {
      if (e.actorType === 'user') users.add(e.actorId);
      if (e.actorType === 'key') keys.add(e.actorId);
      if (e.keyId) keys.add(e.keyId);
      if (typeof e.data.on_behalf_of === 'string') users.add(e.data.on_behalf_of);
    }
    const names = new Map<string, string>();
    await Promise.all([
      ...[...users].map(async (id) => {
        const user = await this.store.findUser(id);
        if (user) names.set(`user:${id}`, user.name ? `${user.name} (${user.email})` : user.email);
      }),
      ...[...keys].map(async (id) => {
        const key = await this.store.findKey(actor.orgId, id);
        if (key) names.set(`key:${id}`, `${key.name} (${key.prefix}…${key.last4})`);
      }),
    ]);
    return names;
  }

  /** The organization's audit events, newest first; narrowed to one key, an agent's keys or a key's tree. */
  async list(actor: Actor, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
    authorize(actor, 'audit.read');
    return readPage(
      page,
      (p) => this.store.listAudit(actor.orgId, filter, p),
      (e) => ({ at: e.at, id: e.id }),
    );
  }
}
