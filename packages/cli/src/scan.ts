import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { findKeys } from '@keyward/core';

const SKIP = new Set(['node_modules', '.git', 'dist', '.keyward']);
const MAX_BYTES = 5 * 1024 * 1024;

/**
 * Looks for keys in files and folders: every keyward-format key with a valid checksum, whatever its prefix. Prints
 * where, never the key. Resolves to the number of keys found (the command exits 1 when there are any, so it can
 * stop a commit).
 */
export async function scan(paths: string[], out: (line: string) => void): Promise<number> {
  let count = 0;
  const visit = async (path: string, root: string): Promise<void> => {
    const info = await stat(path).catch(() => null);
    if (!info) return out(`keyward scan: cannot read ${path}`);
    if (info.isDirectory()) {
      for (const entry of await readdir(path)) if (!SKIP.has(entry)) await visit(join(path, entry), root);
      return;
    }
    if (!info.isFile() || info.size > MAX_BYTES) return;
    const buffer = await readFile(path);
    if (buffer.includes(0)) return; // binary
    const text = buffer.toString('utf8');
    for (const key of findKeys(text)) {
      const line = text.slice(0, key.index).split('\n').length;
      out(`${relative(root, path) || path}:${line}: ${key.display}`);
      count++;
    }
  };
  for (const p of paths.length ? paths : ['.']) await visit(p, process.cwd());
  return count;
}
