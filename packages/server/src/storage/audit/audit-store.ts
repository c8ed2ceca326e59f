import type { AuditEvent } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';

/** Which audit events to list: about one key, before a time, about or by the keys of an agent or of a key's tree. */
export interface AuditFilter {
  keyId?: string;
  before?: number;
  agent?: string;
  /** A key id: events about, or done by, that key or any key derived from it. */
  keyTree?: string;
}

/** The audit log: what was done, by whom, to which key. Append-only. */
export interface AuditStore {
  insertAudit(events: AuditEvent[]): Promise<void>;
  /** Audit events, newest first. */
  listAudit(orgId: string, filter: AuditFilter, page: PageRequest): Promise<AuditEvent[]>;
}
