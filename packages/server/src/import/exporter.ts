import type { ImportStore } from '../storage/store.js';
import { sha256OfImported } from './imported-keys.js';

/**
 * keyward's CSV: the columns `keyward-server admin import --from csv` reads and `admin export` writes. Only the first
 * four are needed; `hash_format` defaults to whichever SHA-256 encoding fits.
 */
export const CSV_HEADER =
  'email,name,prefix,hash,hash_format,scope,expires_at,budget,requests_per_minute,metadata,environment,enabled,created_at,last_used_at';

/** One CSV line, each field quoted when it must be (RFC 4180). */
export function csvLine(fields: readonly string[]): string {
  return fields.map((f) => (/[",\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f)).join(',');
}

/**
 * A text cell a spreadsheet will not run: one that starts with `=`, `+`, `-`, `@`, a tab or a carriage return (what
 * spreadsheets read as a formula) gets a leading `'`, as OWASP's CSV-injection advice says; so does one that starts
 * with `'`, so that {@link fromSpreadsheetCell} gives back exactly the text written (names are stored verbatim).
 */
export function spreadsheetCell(text: string): string {
  return /^[=+\-@\t\r']/.test(text) ? `'${text}` : text;
}

/** The text a {@link spreadsheetCell} was made from: its one leading `'` dropped. */
export function fromSpreadsheetCell(cell: string): string {
  return cell.startsWith("'") ? cell.slice(1) : cell;
}

const iso = (t: number | null) => (t === null ? '' : new Date(t).toISOString());
const PAGE = 1000;

/**
 * Its text cells (owner, name, prefix) are written as {@link spreadsheetCell}s, which `--from csv` reads back.
 *
 * Every key made by a person or imported (derived keys live only as long as their task and are left out), oldest
 * first, as lines of keyward's CSV: hashes only, never a raw key. An imported key not used here yet is written with
 * the SHA-256 its former product stored (any product can take it back); every other key with keyward's HMAC
 * (`hmac-sha256-hex`), which only a keyward server with the same `KEYWARD_SECRET` can check. Read a page at a time,
 * so a million keys export in constant memory. Usage counters are not exported.
 */
export async function exportKeys(store: ImportStore, write: (line: string) => void, orgId?: string): Promise<number> {
  write(CSV_HEADER);
  let count = 0;
  let after: { at: number; id: string } | undefined;
  for (;;) {
    const rows = await store.exportKeys(orgId, { limit: PAGE, after });
    for (const { key, ownerEmail } of rows) {
      const sha256 = sha256OfImported(key.hash);
      write(
        csvLine([
          spreadsheetCell(ownerEmail),
          spreadsheetCell(key.name),
          spreadsheetCell(key.prefix),
          sha256 ?? key.hash,
          sha256 ? 'sha256-hex' : 'hmac-sha256-hex',
          key.scope,
          iso(key.expiresAt),
          key.budget === null ? '' : String(key.budget),
          key.requestsPerMinute === null ? '' : String(key.requestsPerMinute),
          JSON.stringify(key.metadata),
          key.environment,
          key.revokedAt === null ? 'true' : 'false',
          iso(key.createdAt),
          iso(key.lastUsedAt),
        ]),
      );
    }
    count += rows.length;
    const last = rows.at(-1);
    if (rows.length < PAGE || !last) return count;
    after = { at: last.key.createdAt, id: last.key.id };
  }
}
