import { type Actor, authorize } from '../auth/authorization.js';
import { type Clock, sortableId } from '../ids.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { AuditEvent, Store } from '../storage/store.js';

/** Management actions are written at once (they are not on the hot path), so the log is current when read. */
export class AuditLog {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async write(actor: Actor, action: string, keyId: string | null, data: Record<string, unknown> = {}): Promise<void> {
    const event: AuditEvent = {
      id: sortableId('evt', this.clock.now()),
      orgId: actor.orgId,
      actorType: actor.kind,
      actorId: actor.kind === 'key' && actor.keyId ? actor.keyId : actor.userId,
      action,
      keyId,
      data: actor.kind === 'key' ? { ...data, on_behalf_of: actor.userId } : data,
      at: this.clock.now(),
    };
    await this.store.insertAudit([event]);
  }

  /** The organization's audit events, newest first; `keyId` narrows them to one key. */
  async list(actor: Actor, filter: { keyId?: string; before?: number }, page: PageRequest): Promise<Page<AuditEvent>> {
    authorize(actor, 'audit.read');
    return readPage(
      page,
      (p) => this.store.listAudit(actor.orgId, filter, p),
      (e) => ({ at: e.at, id: e.id }),
    );
  }
}
