import type { DatabaseHandle } from '../database-handle.js';
import type { FormStore } from './form-store.js';

/** One-time form tokens over Kysely. */
export class KyselyFormStore implements FormStore {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  async claimForm(id: string, sessionId: string, expiresAt: number) {
    const r = await this.db
      .insertInto('form_tokens')
      .values({ id, session_id: sessionId, location: null, secret: null, expires_at: expiresAt })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async formResult(id: string, sessionId: string) {
    const r = await this.db
      .selectFrom('form_tokens')
      .select('location')
      .where('id', '=', id)
      .where('session_id', '=', sessionId)
      .executeTakeFirst();
    return r && { location: r.location };
  }

  async completeForm(id: string, location: string, sealedSecret: string | null) {
    await this.db.updateTable('form_tokens').set({ location, secret: sealedSecret }).where('id', '=', id).execute();
  }

  async releaseForm(id: string) {
    await this.db.deleteFrom('form_tokens').where('id', '=', id).where('location', 'is', null).execute();
  }

  async takeFormSecret(id: string, sessionId: string) {
    // Read and erase under the row's lock, so two tabs cannot both be shown the secret.
    return this.handle.transaction(async () => {
      let q = this.db.selectFrom('form_tokens').select('secret').where('id', '=', id).where('session_id', '=', sessionId);
      if (this.handle.dialect === 'postgres') q = q.forUpdate();
      const row = await q.executeTakeFirst();
      if (!row?.secret) return null;
      await this.db.updateTable('form_tokens').set({ secret: null }).where('id', '=', id).execute();
      return row.secret;
    });
  }

  async pruneExpiredForms(now: number) {
    await this.db.deleteFrom('form_tokens').where('expires_at', '<=', now).execute();
  }
}
