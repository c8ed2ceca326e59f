import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely';
import type { Database } from '../schema.js';

/** The one definition of an active key, as SQL: neither revoked nor expired at `now`. */
export function isActive(eb: ExpressionBuilder<Database, 'api_keys'>, now: number): Expression<SqlBool> {
  return eb.and([
    eb('api_keys.revoked_at', 'is', null),
    eb.or([eb('api_keys.expires_at', 'is', null), eb('api_keys.expires_at', '>', now)]),
  ]);
}

/**
 * Which keys count towards a plan: active, made by a person (child keys do not count), and in a served environment.
 * One instance is shared by every store that counts keys (the key limit, the organization list, the overview), so
 * that {@link CountedKeys.serve} reaches all of them.
 */
export class CountedKeys {
  /** Null until the server says which environments it serves: then every environment counts. */
  #served: readonly string[] | null = null;

  serve(names: readonly string[]): void {
    this.#served = [...names];
  }

  where(eb: ExpressionBuilder<Database, 'api_keys'>, now: number): Expression<SqlBool> {
    const served = this.#served;
    const own = eb.and([isActive(eb, now), eb('api_keys.parent_id', 'is', null)]);
    return served ? eb.and([own, eb('api_keys.environment', 'in', served)]) : own;
  }

  /** The count of an organization's counted keys, as a query: run alone, or a column of a larger one. */
  countIn(db: Kysely<Database>, orgId: string, now: number) {
    return db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('api_keys.org_id', '=', orgId)
      .where((eb) => this.where(eb, now));
  }
}
