import { closeSync, createReadStream, openSync, type ReadStream, readFileSync, readSync, statSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { parse } from 'csv-parse';
import { fromSpreadsheetCell } from './exporter.js';

/** Where keys come from: the three sources `keyward admin import --from` takes. */
export const IMPORT_SOURCES = ['unkey', 'better-auth', 'csv'] as const;
export type ImportSource = (typeof IMPORT_SOURCES)[number];

/**
 * The hash encodings a source may have stored: SHA-256 of the raw key, or keyward's own HMAC (from `admin export`
 * of a server with the same secret).
 */
export type HashFormat = 'sha256-hex' | 'sha256-base64' | 'sha256-base64url' | 'hmac-sha256-hex';
const HASH_FORMATS: readonly string[] = ['sha256-hex', 'sha256-base64', 'sha256-base64url', 'hmac-sha256-hex'];

/** One key as a source describes it, before it is mapped onto keyward: every field as the source had it. */
export interface SourceRecord {
  /** 1-based position in the input, for reports. */
  n: number;
  /** Where it is, as a person finds it in the file: `line 4` (CSV, JSON lines) or `record 3` (a JSON list, a database). */
  where: string;
  /** The owner: an e-mail address, or the source's external id / owner id. */
  owner: string | null;
  hash: string | null;
  hashFormat: HashFormat | null;
  prefix: string;
  name: string | null;
  /** A keyward scope, when the source says one (CSV). */
  scope: string | null;
  /** A keyward environment, when the source says one (CSV); else the import's. */
  environment: string | null;
  /** Permission or role words (better-auth permissions, Unkey permissions and roles), mapped onto a scope. */
  permissions: string[];
  expiresAt: number | null;
  enabled: boolean;
  /** Remaining credits (better-auth `remaining`, Unkey `remaining` / `credits.remaining`). */
  remaining: number | null;
  /** Requests per minute, from the source's rate limit. */
  requestsPerMinute: number | null;
  metadata: Record<string, unknown>;
  createdAt: number | null;
  lastUsedAt: number | null;
}

type Row = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : null);
const num = (v: unknown): number | null => {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
};
/** JSON from a file, or an error that says where it is not JSON. */
function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${where} is not valid JSON (${(error as Error).message})`);
  }
}

/** A time as sources write them: epoch milliseconds (or seconds), or an ISO date. */
export function timeOf(v: unknown): number | null {
  const n = num(v);
  if (n !== null) return n < 1e11 ? n * 1000 : n;
  if (typeof v === 'string' && v.trim() !== '') {
    const t = Date.parse(v.trim().replace(' ', 'T'));
    return Number.isNaN(t) ? null : t;
  }
  return null;
}
const bool = (v: unknown, fallback: boolean): boolean => {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === '1' || v === 'true') return true;
  if (v === 0 || v === '0' || v === 'false') return false;
  return fallback;
};
/** JSON that a source stored as text (sometimes twice over), or the value itself. */
function json(v: unknown): unknown {
  let out = v;
  // Only text that can be JSON is parsed: a thrown SyntaxError per empty cell costs more than the rest of a row.
  for (let i = 0; i < 2 && typeof out === 'string' && /^\s*[[{"]/.test(out); i++) {
    try {
      out = JSON.parse(out);
    } catch {
      return out;
    }
  }
  return out;
}
const objectOf = (v: unknown): Record<string, unknown> => {
  const o = json(v);
  return o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>) : {};
};
/** Permission words of better-auth's `{resource: [actions]}`, or of a list of strings (`docs.read`, `admin`). */
function words(v: unknown): string[] {
  const o = json(v);
  if (Array.isArray(o))
    return o.flatMap((x) => (typeof x === 'string' ? [x] : typeof x === 'object' && x ? [String((x as Row).name ?? '')] : []));
  if (o && typeof o === 'object')
    return Object.entries(o as Row).flatMap(([res, acts]) => (Array.isArray(acts) ? acts.map((a) => `${res}.${a}`) : [res]));
  return typeof o === 'string' && o ? o.split(/[\s,]+/) : [];
}

const blank = (n: number): SourceRecord => ({
  n,
  where: `record ${n}`,
  owner: null,
  hash: null,
  hashFormat: null,
  prefix: '',
  name: null,
  scope: null,
  environment: null,
  permissions: [],
  expiresAt: null,
  enabled: true,
  remaining: null,
  requestsPerMinute: null,
  metadata: {},
  createdAt: null,
  lastUsedAt: null,
});

/** A better-auth `apikey` row (with its owner's e-mail joined in): the api-key plugin's columns, any version. */
export function betterAuthRecord(r: Row, n: number, emails: Map<string, string> = new Map()): SourceRecord {
  const ownerId = str(r.referenceId) ?? str(r.userId);
  const windowMs = num(r.rateLimitTimeWindow);
  const max = num(r.rateLimitMax);
  const limited = bool(r.rateLimitEnabled, false) && windowMs && max;
  return {
    ...blank(n),
    owner: str(r.email) ?? (ownerId ? (emails.get(ownerId) ?? null) : null),
    hash: str(r.key),
    // The api-key plugin's default hashing: SHA-256, base64url without padding.
    hashFormat: 'sha256-base64url',
    prefix: str(r.prefix) ?? '',
    name: str(r.name),
    permissions: words(r.permissions),
    expiresAt: timeOf(r.expiresAt),
    enabled: bool(r.enabled, true),
    remaining: num(r.remaining),
    requestsPerMinute: limited ? Math.max(1, Math.floor(((max as number) * 60_000) / (windowMs as number))) : null,
    metadata: objectOf(r.metadata),
    createdAt: timeOf(r.createdAt),
    lastUsedAt: timeOf(r.lastRequest),
  };
}

/** A key of Unkey's migration formats: `migrations.createKeys` (v1) or `keys.migrateKeys` (v2), or a CSV row. */
export function unkeyRecord(r: Row, n: number): SourceRecord {
  const hash = r.hash;
  const value = typeof hash === 'object' && hash ? str((hash as Row).value) : str(hash);
  const variant = typeof hash === 'object' && hash ? str((hash as Row).variant) : str(r.hash_format);
  const limits = Array.isArray(r.ratelimits) ? (r.ratelimits as Row[]) : r.ratelimit ? [r.ratelimit as Row] : [];
  const perMinute = limits
    .map((l) => {
      // v2: `limit` per `duration` ms; v1: a bucket of `limit` refilled by `refillRate` every `refillInterval` ms.
      const limit = num(l.refillRate) ?? num(l.limit);
      const ms = num(l.duration) ?? num(l.refillInterval);
      return limit && ms ? Math.max(1, Math.floor((limit * 60_000) / ms)) : null;
    })
    .filter((x): x is number => x !== null);
  const credits = objectOf(r.credits);
  return {
    ...blank(n),
    owner: str(r.externalId) ?? str(r.ownerId) ?? str(r.email) ?? str(r.owner),
    hash: value,
    hashFormat: variant === 'sha256_hex' || variant === 'sha256-hex' ? 'sha256-hex' : 'sha256-base64',
    prefix: str(r.prefix) ?? '',
    name: str(r.name),
    scope: str(r.scope),
    permissions: [...words(r.permissions), ...words(r.roles)],
    expiresAt: timeOf(r.expires ?? r.expires_at),
    enabled: bool(r.enabled, true),
    remaining: num(r.remaining) ?? num(credits.remaining),
    requestsPerMinute: perMinute.length > 0 ? Math.min(...perMinute) : null,
    metadata: objectOf(r.meta ?? r.metadata),
  };
}

const cell = (v: unknown): string | null => {
  const text = str(v);
  return text === null ? null : fromSpreadsheetCell(text);
};

/** keyward's own CSV (CSV_HEADER in exporter.ts): `email,name,prefix,hash,hash_format,scope,…`. */
export function csvRecord(r: Row, n: number): SourceRecord {
  // Column names arrive normalized (lower case, `_` for spaces and dashes): see csvRows.
  const get = (...names: string[]) => {
    for (const name of names) if (r[name] !== undefined) return r[name];
    return undefined;
  };
  const format =
    str(get('hash_format', 'hash_type', 'algorithm', 'variant', 'encoding'))
      ?.toLowerCase()
      .replace(/_/g, '-') ?? null;
  return {
    ...blank(n),
    // Text cells as `admin export` writes them (spreadsheetCell): a leading `'` that disarms a formula is dropped.
    owner: cell(get('email', 'owner', 'owner_email', 'external_id', 'externalid', 'owner_id')),
    hash: str(get('hash', 'key_hash', 'hashed_key')),
    hashFormat: format !== null && HASH_FORMATS.includes(format) ? (format as HashFormat) : null,
    prefix: cell(get('prefix')) ?? '',
    name: cell(get('name', 'key_name')),
    scope: str(get('scope', 'role')),
    environment: str(get('environment')),
    permissions: words(get('permissions', 'roles')),
    expiresAt: timeOf(get('expires_at', 'expires')),
    enabled: bool(get('enabled'), true),
    remaining: num(get('budget', 'remaining', 'credits')),
    requestsPerMinute: num(get('requests_per_minute', 'rate_limit_per_minute')),
    metadata: objectOf(get('metadata', 'meta')),
    createdAt: timeOf(get('created_at')),
    lastUsedAt: timeOf(get('last_used_at')),
  };
}

/** What kind of file it is, from its first bytes: a SQLite database, JSON, JSON lines, or CSV. */
function kindOf(file: string): 'sqlite' | 'json' | 'jsonl' | 'csv' {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new Error(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  const head = Buffer.alloc(4096);
  const n = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  const text = head.subarray(0, n).toString('utf8');
  if (text.startsWith('SQLite format 3\u0000')) return 'sqlite';
  const t = text.trimStart();
  if (t.startsWith('[')) return 'json';
  if (t.startsWith('{')) {
    const first = t.split('\n')[0]?.trim() ?? '';
    try {
      JSON.parse(first);
      return t.split('\n').filter((l) => l.trim()).length > 1 ? 'jsonl' : 'json';
    } catch {
      return 'json';
    }
  }
  return 'csv';
}

/** How far through its input a source is: 0 to 1, by bytes read or rows yielded. */
export interface Progress {
  share: number;
}

/** better-auth's tables in its own SQLite database: `apikey` joined with `user` for the owners' e-mails. */
function* betterAuthDatabase(file: string, progress: Progress): Generator<Row> {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    const cols = (db.prepare('PRAGMA table_info(apikey)').all() as { name: string }[]).map((c) => c.name);
    if (cols.length === 0) throw new Error('the database has no apikey table (better-auth with its api-key plugin)');
    const owner = cols.includes('referenceId') ? 'referenceId' : 'userId';
    const { total } = db.prepare('SELECT count(*) AS total FROM apikey').get() as { total: number };
    let n = 0;
    for (const row of db
      .prepare(`SELECT apikey.*, user.email AS email FROM apikey LEFT JOIN user ON user.id = apikey.${owner} ORDER BY apikey.createdAt`)
      .iterate() as Iterable<Row>) {
      progress.share = ++n / total;
      yield row;
    }
  } finally {
    db.close();
  }
}

/** A file read as a stream, its share read kept in `progress`. */
function streamOf(file: string, progress: Progress): ReadStream {
  const size = statSync(file).size || 1;
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  stream.on('data', () => {
    progress.share = stream.bytesRead / size;
  });
  return stream;
}

/** CSV rows as objects; keyward's own CSV has its column names normalized (lower case, `_` for spaces and dashes). */
/** The line of the file a row of a CSV or JSON-lines file ends on, kept beside its fields. */
const LINE = Symbol('line');
type Located = Row & { [LINE]?: number };

async function* csvRows(file: string, normalized: boolean, progress: Progress): AsyncGenerator<Row> {
  const columns = normalized ? (h: string[]) => h.map((c) => c.trim().toLowerCase().replace(/[\s-]/g, '_')) : true;
  const parser = streamOf(file, progress).pipe(
    parse({ columns, skip_empty_lines: true, trim: true, bom: true, relax_column_count: true, info: true }),
  );
  for await (const { record, info } of parser as AsyncIterable<{ record: Row; info: { lines: number } }>) {
    yield Object.assign(record, { [LINE]: info.lines });
  }
}

async function* jsonlRows(file: string, progress: Progress): AsyncGenerator<Row> {
  const { createInterface } = await import('node:readline');
  let n = 0;
  for await (const line of createInterface({ input: streamOf(file, progress), crlfDelay: Number.POSITIVE_INFINITY })) {
    n++;
    if (line.trim()) yield Object.assign(parseJson(line, `line ${n}`) as Row, { [LINE]: n });
  }
}

function* listRows(rows: Row[], progress: Progress): Generator<Row> {
  for (let i = 0; i < rows.length; i++) {
    progress.share = (i + 1) / rows.length;
    yield rows[i] as Row;
  }
}

/**
 * The records of a file, read as its source writes them. better-auth: its SQLite database, or its `apikey` rows
 * (with an `email` column, or a `{"apikey": rows, "user": users}` document) as JSON, JSON lines or CSV. Unkey: the
 * JSON of `migrations.createKeys` (a list) or `keys.migrateKeys` (`{"keys": …}`), or CSV. csv: keyward's CSV.
 * `progress.share` says how far through the file it is.
 */
export async function* readSource(source: ImportSource, file: string, progress: Progress = { share: 0 }): AsyncGenerator<SourceRecord> {
  const kind = kindOf(file);
  let rows: Iterable<Row> | AsyncIterable<Row>;
  let emails = new Map<string, string>();
  if (kind === 'sqlite') {
    if (source !== 'better-auth') throw new Error(`a SQLite database is a better-auth source, not ${source}`);
    rows = betterAuthDatabase(file, progress);
  } else if (kind === 'json') {
    const doc = parseJson(readFileSync(file, 'utf8'), 'the file');
    let list: unknown = doc;
    if (doc && typeof doc === 'object' && !Array.isArray(doc)) {
      const d = doc as Row;
      list = d.keys ?? d.apikey ?? d.apiKeys ?? d.data;
      if (!Array.isArray(list)) throw new Error('a JSON document must be a list of keys, {"keys": […]} or {"apikey": […], "user": […]}');
      if (Array.isArray(d.user)) emails = new Map((d.user as Row[]).map((u) => [String(u.id), String(u.email)]));
    }
    if (!Array.isArray(list)) throw new Error('the JSON is neither a list nor an object');
    rows = listRows(list as Row[], progress);
  } else rows = kind === 'jsonl' ? jsonlRows(file, progress) : csvRows(file, source === 'csv', progress);
  const map =
    source === 'better-auth' ? (r: Row, n: number) => betterAuthRecord(r, n, emails) : source === 'unkey' ? unkeyRecord : csvRecord;
  let n = 0;
  for await (const row of rows) {
    const line = (row as Located)[LINE];
    yield { ...map(row, ++n), where: line === undefined ? `record ${n}` : `line ${line}` };
  }
  progress.share = 1;
}
