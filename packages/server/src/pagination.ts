import { KeywardError } from '@keyward/core';

/** Where a page starts: just after the row with this sort value and id (keyset pagination, stable under inserts). */
export interface Cursor {
  at: number;
  id: string;
}

export interface PageRequest {
  limit: number;
  after?: Cursor | undefined;
}

/** A page of a list and the cursor of the next one (null on the last page). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** An opaque cursor: `<sort value>.<id>` in base64url. Nothing in it is secret; it is opaque so that it may change. */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.at}.${c.id}`).toString('base64url');
}

export function decodeCursor(text: string): Cursor {
  const m = /^(-?\d{1,16})\.([A-Za-z0-9_]{1,64})$/.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (!m) throw new KeywardError('invalid_request', 'cursor is not valid: pass the next_cursor of an earlier page as it is.');
  return { at: Number(m[1]), id: m[2] as string };
}

/**
 * A page read from storage: `read` is asked for one row more than the page holds, whose presence says whether
 * another page follows; the cursor points after the page's last row.
 */
export async function readPage<T>(
  page: PageRequest,
  read: (p: PageRequest) => Promise<T[]>,
  cursorOf: (row: T) => Cursor,
): Promise<Page<T>> {
  const rows = await read({ ...page, limit: page.limit + 1 });
  const items = rows.slice(0, page.limit);
  const last = items[items.length - 1];
  return { items, next: rows.length > page.limit && last ? encodeCursor(cursorOf(last)) : null };
}
