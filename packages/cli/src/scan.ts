import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { explainingFetch, findKeys } from '@keyward/core';
import { type ServerEnvironment, serverMetadata } from '@keyward/sdk';

const SKIP = new Set(['node_modules', '.git', 'dist', '.keyward']);
const MAX_BYTES = 5 * 1024 * 1024;

/** One key found: where, and how it may be shown. `key` is only ever sent to its server (`--check`). */
export interface Finding {
  path: string;
  line: number;
  display: string;
  key: string;
  /** For `--git`: a commit that holds the blob (the newest one `git rev-list` names it under). */
  commit?: string;
  /** After `--check`: what the server says of it. */
  status?: 'live' | 'revoked' | 'expired' | 'unknown';
}

export interface ScanResult {
  findings: Finding[];
  /** Files (or, with `--git`, distinct blobs) read. */
  files: number;
  /** Paths that could not be read, with why. */
  problems: string[];
}

function findIn(text: string, path: string, into: Finding[], commit?: string): void {
  for (const k of findKeys(text)) {
    into.push({
      path,
      line: text.slice(0, k.index).split('\n').length,
      display: k.display,
      key: k.key,
      ...(commit ? { commit } : {}),
    });
  }
}

/** Every keyward-format key with a valid checksum, whatever its prefix, in files and folders. */
export async function scanPaths(paths: string[]): Promise<ScanResult> {
  const result: ScanResult = { findings: [], files: 0, problems: [] };
  const cannot = (path: string, error: unknown) => {
    const code = (error as { code?: string })?.code;
    result.problems.push(
      `${path}: cannot read (${code === 'ENOENT' ? 'no such file or folder' : code === 'EACCES' ? 'permission denied' : (code ?? String(error))})`,
    );
  };
  const visit = async (path: string, root: string): Promise<void> => {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (error) {
      return cannot(path, error);
    }
    if (info.isDirectory()) {
      let entries: string[];
      try {
        entries = await readdir(path);
      } catch (error) {
        return cannot(path, error);
      }
      for (const entry of entries) if (!SKIP.has(entry)) await visit(join(path, entry), root);
      return;
    }
    if (!info.isFile() || info.size > MAX_BYTES) return;
    let buffer: Buffer;
    try {
      buffer = await readFile(path);
    } catch (error) {
      return cannot(path, error);
    }
    result.files++;
    if (buffer.includes(0)) return; // binary
    findIn(buffer.toString('utf8'), relative(root, path) || path, result.findings);
  };
  for (const p of paths.length ? paths : ['.']) await visit(p, process.cwd());
  return result;
}

/** Runs git in `cwd`, feeding `input`; resolves with its standard output as bytes. */
function git(cwd: string, args: string[], input?: string): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const child = spawn('git', args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', (e) => fail(new Error(`cannot run git (${e.message})`)));
    child.on('close', (code) => (code === 0 ? ok(Buffer.concat(out)) : fail(new Error(`git ${args[0]}: ${err.trim() || `exit ${code}`}`))));
    // A git that exits before it reads its input (rev-list reads none) may close the pipe first: what happened is
    // told by its exit code, not by an EPIPE that, unhandled, crashed the command.
    child.stdin.on('error', () => {});
    if (input === undefined) child.stdin.end();
    else child.stdin.end(input);
  });
}

/**
 * Every blob in the history of the repository at `cwd` (all branches and tags), each read once, whatever the
 * number of commits that hold it: `git rev-list --objects --all` names them, `git cat-file --batch` reads them.
 */
export async function scanGit(cwd: string): Promise<ScanResult> {
  const result: ScanResult = { findings: [], files: 0, problems: [] };
  let listing: string;
  try {
    listing = (await git(cwd, ['rev-list', '--objects', '--all'])).toString('utf8');
  } catch (error) {
    result.problems.push(`${cwd}: not a git repository with history (${(error as Error).message})`);
    return result;
  }
  // Objects with a path are trees and blobs; the first path seen for an id is the one reported.
  const paths = new Map<string, string>();
  for (const line of listing.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0 && !paths.has(line.slice(0, space))) paths.set(line.slice(0, space), line.slice(space + 1));
  }
  const ids = [...paths.keys()];
  const types = (await git(cwd, ['cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize)'], `${ids.join('\n')}\n`))
    .toString('utf8')
    .split('\n');
  const blobs = types
    .map((l) => l.split(' '))
    .filter(([, type, size]) => type === 'blob' && Number(size) <= MAX_BYTES)
    .map(([id]) => id as string);
  if (blobs.length === 0) return result;
  const batch = await git(cwd, ['cat-file', '--batch'], `${blobs.join('\n')}\n`);
  // `--batch` output: "<id> blob <size>\n<content>\n" per object.
  let at = 0;
  while (at < batch.length) {
    const eol = batch.indexOf(10, at);
    const [id, , size] = batch.subarray(at, eol).toString('utf8').split(' ');
    const start = eol + 1;
    const end = start + Number(size);
    const content = batch.subarray(start, end);
    at = end + 1;
    result.files++;
    if (!content.includes(0)) findIn(content.toString('utf8'), paths.get(id as string) ?? (id as string), result.findings, id);
  }
  return result;
}

/**
 * Asks the server that issued them which found keys are live (`POST /v1/keys/check`, 100 at a time). Only that
 * server can tell: it alone holds the secret its key hashes need. The answers come back by display form, in order.
 */
export async function checkFindings(server: string, findings: Finding[], doFetch: typeof fetch = fetch): Promise<void> {
  const distinct = [...new Set(findings.map((f) => f.key))];
  const status = new Map<string, Finding['status']>();
  const call = explainingFetch(doFetch, 'Is the server running? Name it after --check.');
  for (let i = 0; i < distinct.length; i += 100) {
    const keys = distinct.slice(i, i + 100);
    const res = await call(new URL('/v1/keys/check', server), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ keys }),
    });
    const body = (await res.json().catch(() => ({}))) as { keys?: { status?: Finding['status'] }[]; error?: { message?: string } };
    if (!res.ok || !Array.isArray(body.keys)) throw new Error(`${server} could not check the keys: ${body.error?.message ?? res.status}`);
    keys.forEach((k, j) => {
      status.set(k, body.keys?.[j]?.status ?? 'unknown');
    });
  }
  for (const f of findings) f.status = status.get(f.key) ?? 'unknown';
}

/** Whether a finding counts as a live key: checked and live, or (unchecked) any key whose checksum holds. */
export const isLive = (f: Finding) => f.status === undefined || f.status === 'live';

/**
 * Reports every live finding to the server as leaked (`POST /v1/keys/report-leak`, which revokes it unless the
 * server's `leaks.on_report` says notify), then asks again what each is now. Returns how many were reported.
 */
export async function reportLive(server: string, findings: Finding[], doFetch: typeof fetch = fetch): Promise<number> {
  const live = [...new Set(findings.filter((f) => f.status === 'live').map((f) => f.key))];
  const call = explainingFetch(doFetch, 'Is the server running? Name it after --check.');
  for (const key of live) {
    const res = await call(new URL('/v1/keys/report-leak', server), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ key }),
    });
    if (res.status !== 202) throw new Error(`${server} did not take the report (${res.status})`);
  }
  if (live.length > 0) await checkFindings(server, findings, doFetch);
  return live.length;
}

/**
 * A finding as a line: where, the key's display form, and (checked) what the server said, with the command that
 * revokes a live one. Never the key.
 */
export function findingLine(f: Finding, server?: string): string {
  const where = `${f.path}:${f.line}${f.commit ? ` (blob ${f.commit.slice(0, 12)})` : ''}`;
  const said =
    f.status === undefined
      ? ''
      : f.status === 'live'
        ? `  live: revoke it with \`keyward scan --check ${server ?? '<server>'} --report ${f.commit ? '--git' : shellWord(f.path)}\`, then remove it from the history`
        : f.status === 'unknown'
          ? '  not live: unknown to this server'
          : `  not live: ${f.status}`;
  return `${where}: ${f.display}${said}`;
}

/** A path as one shell word: as it is when it is plain, else in single quotes. */
function shellWord(path: string): string {
  return /^[\w./@%+=:,-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}

/**
 * The one-line summary, and the exit code: 2 when something could not be read or the keys could not be checked (the
 * findings are still listed), 1 when a live key was found (unchecked, any key whose checksum holds), else 0.
 */
export function scanSummary(r: ScanResult, checked = false, uncheckable = false): { line: string; exitCode: number } {
  const files = `${r.files} ${r.files === 1 ? 'file' : 'files'} scanned`;
  const live = r.findings.filter(isLive).length;
  const keys =
    r.findings.length === 0
      ? 'no keys found'
      : checked
        ? `${r.findings.length} key${r.findings.length === 1 ? '' : 's'} found, ${live} still working`
        : `${r.findings.length} key${r.findings.length === 1 ? '' : 's'} found${uncheckable ? ', not checked' : ''}`;
  const unreadable = r.problems.length > 0 ? `, ${r.problems.length} path${r.problems.length === 1 ? '' : 's'} could not be read` : '';
  const advice = live > 0 ? '. Revoke and rotate them, then remove them from the files (and history).' : '.';
  const exitCode = r.problems.length > 0 || uncheckable ? 2 : live > 0 ? 1 : 0;
  return { line: `${files}: ${keys}${unreadable}${advice}`, exitCode };
}

/** The findings as SARIF 2.1.0, for code-scanning uploads (GitHub, GitLab): one result per finding, no key in it. */
export function toSarif(r: ScanResult): string {
  return JSON.stringify(
    {
      $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
      version: '2.1.0',
      runs: [
        {
          tool: {
            driver: {
              name: 'keyward scan',
              informationUri: 'https://github.com/keyward/keyward',
              rules: [
                {
                  id: 'keyward/api-key',
                  name: 'KeywardApiKey',
                  shortDescription: { text: 'A keyward API key (its checksum holds)' },
                  help: { text: 'Revoke the key, create a new one, and remove it from the files and their history.' },
                  defaultConfiguration: { level: 'error' },
                },
              ],
            },
          },
          results: r.findings.map((f) => ({
            ruleId: 'keyward/api-key',
            level: isLive(f) ? 'error' : 'note',
            message: { text: `${f.display}${f.status ? ` (${f.status})` : ''}` },
            locations: [{ physicalLocation: { artifactLocation: { uri: f.path }, region: { startLine: f.line } } }],
            partialFingerprints: { keyDisplay: f.display },
          })),
        },
      ],
    },
    null,
    2,
  );
}

/** A prefix as a regular expression (RE2 and JavaScript alike). */
const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/**
 * gitleaks rules for the server's prefixes: the prefix, exactly 42 base62 characters, and nothing glued on either
 * side (RE2 has no look-around: the boundary is matched and the key is the rule's secret group).
 */
export function gitleaksConfig(environments: ServerEnvironment[]): string {
  const rules = environments.map(
    (e) => `[[rules]]
id = "keyward-${e.name.replace(/[^A-Za-z0-9_-]/g, '-')}"
description = "keyward API key (${e.name} environment, prefix ${e.prefix})"
regex = '''(?:^|[^0-9A-Za-z_:])(${escapeRegex(e.prefix)}[0-9A-Za-z]{42})(?:[^0-9A-Za-z]|$)'''
secretGroup = 1
entropy = 3.0
keywords = ["${e.prefix.toLowerCase().replace(/["\\]/g, '\\$&')}"]
`,
  );
  return `# gitleaks rules for keyward API keys, from the server's prefixes (keyward scan --print-gitleaks-config).
# A match is a candidate; \`keyward scan\` also checks the key's checksum, and --check asks the server if it is live.
title = "keyward"

[extend]
useDefault = true

${rules.join('\n')}`;
}

/** TruffleHog custom detectors for the same prefixes (its `--config` file). */
export function trufflehogConfig(environments: ServerEnvironment[]): string {
  const detectors = environments.map(
    (e) => `  - name: keyward-${e.name.replace(/[^A-Za-z0-9_-]/g, '-')}
    keywords:
      - "${e.prefix}"
    regex:
      key: '(?:^|[^0-9A-Za-z_:])(${escapeRegex(e.prefix).replace(/'/g, "''")}[0-9A-Za-z]{42})(?:[^0-9A-Za-z]|$)'`,
  );
  return `# TruffleHog custom detectors for keyward API keys (keyward scan --print-trufflehog-config).
detectors:
${detectors.join('\n')}
`;
}

/** The environments (name, prefix) a keyward server issues keys for, from its authorization server metadata. */
export async function serverEnvironments(server: string, doFetch: typeof fetch = fetch): Promise<ServerEnvironment[]> {
  const { environments } = await serverMetadata(
    server,
    explainingFetch(doFetch, 'Is the server running? Name it with --server or KEYWARD_SERVER.'),
  );
  if (!environments?.length) throw new Error(`${server} did not say which key prefixes it issues (is it a keyward server?)`);
  return environments;
}
