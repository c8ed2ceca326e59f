import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { findKeys } from '@keyward/core';

const SKIP = new Set(['node_modules', '.git', 'dist', '.keyward']);
const MAX_BYTES = 5 * 1024 * 1024;

export interface ScanResult {
  /** Keys found (each printed as `path:line: display`). */
  found: number;
  /** Files read. */
  files: number;
  /** Paths that could not be read (each printed with why). */
  unreadable: number;
}

/**
 * Looks for keys in files and folders: every keyward-format key with a valid checksum, whatever its prefix. Prints
 * where, never the key, and a path it cannot read; the command prints the summary and picks the exit code.
 */
export async function scan(paths: string[], out: (line: string) => void): Promise<ScanResult> {
  const result: ScanResult = { found: 0, files: 0, unreadable: 0 };
  const cannot = (path: string, error: unknown) => {
    result.unreadable++;
    const code = (error as { code?: string })?.code;
    out(
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
    const text = buffer.toString('utf8');
    for (const key of findKeys(text)) {
      const line = text.slice(0, key.index).split('\n').length;
      out(`${relative(root, path) || path}:${line}: ${key.display}`);
      result.found++;
    }
  };
  for (const p of paths.length ? paths : ['.']) await visit(p, process.cwd());
  return result;
}

/** The one-line summary, and the exit code: 2 when a path could not be read, 1 when a key was found, else 0. */
export function scanSummary(r: ScanResult): { line: string; exitCode: number } {
  const files = `${r.files} file${r.files === 1 ? '' : 's'} scanned`;
  const keys = r.found === 0 ? 'no keys found' : `${r.found} key${r.found === 1 ? '' : 's'} found`;
  const unreadable = r.unreadable > 0 ? `, ${r.unreadable} path${r.unreadable === 1 ? '' : 's'} could not be read` : '';
  const advice = r.found > 0 ? '. Revoke and rotate them, then remove them from the files (and history).' : '.';
  return { line: `${files}: ${keys}${unreadable}${advice}`, exitCode: r.unreadable > 0 ? 2 : r.found > 0 ? 1 : 0 };
}
