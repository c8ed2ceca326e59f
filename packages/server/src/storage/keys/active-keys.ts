import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Core's `keyState`, as SQL, for what storage counts: a key neither revoked, expired nor idle past its idle timeout at
 * `now` (a revocation or an expiry counts from its instant on; idleness from the last use the usage flush wrote). The contract suite checks it against `keyState` key by key.
 */
export function isActive(eb: ExpressionBuilder<Database, 'api_keys'>, now: number): Expression<SqlBool> {
  return eb.and([
    eb.or([eb('api_keys.revoked_at', 'is', null), eb('api_keys.revoked_at', '>', now)]),
    eb.or([eb('api_keys.expires_at', 'is', null), eb('api_keys.expires_at', '>', now)]),
    eb.or([
      eb('api_keys.idle_timeout_seconds', 'is', null),
      eb(eb(eb.fn.coalesce('api_keys.last_used_at', 'api_keys.created_at'), '+', eb('api_keys.idle_timeout_seconds', '*', 1000)), '>', now),
    ]),
  ]);
}

/**
 * The environments whose keys count: the ones the server serves (a key of any other is retired), or null for every
 * environment. Storage keeps no list of its own: each count is told.
 */
export type Served = readonly string[] | null;

/** Which keys count towards a plan: active, made by a person (child keys do not count), and of a served environment. */
export function countedKey(eb: ExpressionBuilder<Database, 'api_keys'>, now: number, served: Served): Expression<SqlBool> {
  const own = eb.and([isActive(eb, now), eb('api_keys.parent_id', 'is', null)]);
  return served === null ? own : eb.and([own, eb('api_keys.environment', 'in', served.length > 0 ? served : [''])]);
}

/** The count of an organization's counted keys, as a query: run alone, or a column of a larger one. */
export function countedKeysOf(db: Kysely<Database>, orgId: string, now: number, served: Served) {
  return db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('api_keys.org_id', '=', orgId)
    .where((eb) => countedKey(eb, now, served));
}
