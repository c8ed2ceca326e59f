import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeywardError } from '@keyward/core';
import { z } from 'zod';
import { IMPORT_SOURCES } from '../../import/sources.js';
import { type AppContext, about, type ZodApp } from '../context.js';

const importBody = z
  .object({
    from: z.enum(IMPORT_SOURCES),
    /** The file's content, as `keyward-server admin import` would read it (JSON, JSON lines or CSV; not a database). */
    data: z
      .string()
      .min(1)
      .max(50 * 1024 * 1024),
    dry_run: z.boolean().optional(),
    /** The operator vouches for every account's address: owners with an account here get their keys in it. */
    match_existing_accounts: z.boolean().optional(),
    environment: z.string().max(32).optional(),
  })
  .strict();

const importAnswer = z.object({
  source: z.string(),
  dry_run: z.boolean(),
  read: z.number(),
  created: z.number(),
  already_imported: z.number(),
  invalid: z.number(),
  skipped: z.array(z.object({ record: z.number(), reason: z.string() })),
  matched_owners: z.array(z.string()),
  created_owners: z.array(z.string()),
  held_owners: z
    .array(z.string())
    .meta({ description: 'Owners with an account here by address only: their keys are held for their claim link (in claims).' }),
  claims: z
    .array(z.object({ email: z.string(), organization_id: z.string(), link: z.string() }))
    .meta({ description: "Each new owner's claim link: send it to them (it works 30 days)." }),
  scopes: z.record(z.string(), z.number()),
});

/**
 * `POST /api/admin/import`: what `keyward-server admin import` does, for an operator over HTTP. Operator only: the
 * caller presents an operator credential (`operator_credentials`), never a key, a session or a verifier credential.
 */
export function importRoutes(app: ZodApp, ctx: AppContext): void {
  app.register(async (big: ZodApp) => {
    big.post(
      '/api/admin/import',
      {
        bodyLimit: 64 * 1024 * 1024,
        config: { auth: 'none' },
        // Authenticated before the body is read: an unauthenticated 64 MB post costs a 401, not 64 MB.
        onRequest: ctx.auth.operatorBeforeBody,
        schema: {
          ...about('admin', 'Import keys another product issued (operator: an operator credential as Bearer)', 'none'),
          body: importBody,
          response: { 200: importAnswer },
        },
      },
      async (req) => {
        const operator = ctx.auth.requireOperator(req);
        const b = req.body;
        const dir = mkdtempSync(join(tmpdir(), 'kw-import-'));
        const file = join(dir, 'input');
        try {
          writeFileSync(file, b.data, { mode: 0o600 });
          const claims: { email: string; organization_id: string; link: string }[] = [];
          const report = await ctx.importer.run({
            source: b.from,
            file,
            dryRun: b.dry_run === true,
            matchExistingAccounts: b.match_existing_accounts === true,
            by: `operator ${operator}`,
            onClaim: (c) => claims.push({ email: c.email, organization_id: c.organizationId, link: c.link }),
            ...(b.environment ? { environment: b.environment } : {}),
          });
          return {
            source: report.source,
            dry_run: report.dryRun,
            read: report.read,
            created: report.created,
            already_imported: report.alreadyImported,
            invalid: report.invalid,
            skipped: report.skipped,
            matched_owners: report.matchedOwners,
            created_owners: report.createdOwners,
            held_owners: report.heldOwners,
            claims,
            scopes: report.scopes,
          };
        } catch (error) {
          if (error instanceof KeywardError) throw error;
          throw new KeywardError('invalid_request', `The input could not be imported: ${(error as Error).message}`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );
  });
}
