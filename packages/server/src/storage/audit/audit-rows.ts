import type { Selectable } from 'kysely';
import type { AuditEvent } from '../../entities.js';
import { num } from '../columns.js';
import type { Database } from '../schema.js';

type AuditRow = Selectable<Database['audit_events']>;

export function auditFromRow(r: AuditRow): AuditEvent {
  return {
    id: r.id,
    orgId: r.org_id,
    actorType: r.actor_type as AuditEvent['actorType'],
    actorId: r.actor_id,
    action: r.action,
    keyId: r.key_id,
    data: JSON.parse(r.data) as Record<string, unknown>,
    at: num(r.at),
  };
}

export function auditToRow(e: AuditEvent): AuditRow {
  return {
    id: e.id,
    org_id: e.orgId,
    actor_type: e.actorType,
    actor_id: e.actorId,
    action: e.action,
    key_id: e.keyId,
    data: JSON.stringify(e.data),
    at: e.at,
  };
}
