import { type RawBuilder, type SqlBool, sql } from 'kysely';
import type { Cursor } from '../pagination.js';

/** BIGINT and INTEGER columns, whichever type the driver hands back. */
export const num = (v: unknown): number => Number(v);
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** `[]` and `{}` are what almost every key stores: skip the parser for them. */
export const parseList = (text: string): string[] => (text === '[]' ? [] : (JSON.parse(text) as string[]));
export const parseObject = (text: string): Record<string, unknown> => (text === '{}' ? {} : (JSON.parse(text) as Record<string, unknown>));

/**
 * Keyset paging: the rows after `cursor` in (`column`, id) order, `(column, id) > (at, id)` going up and `<` going
 * down. One row-value comparison, the same on SQLite and PostgreSQL, instead of an `or` written out per list.
 */
export function afterCursor(column: 'created_at' | 'at', cursor: Cursor, order: 'asc' | 'desc'): RawBuilder<SqlBool> {
  return sql<SqlBool>`(${sql.ref(column)}, id) ${sql.raw(order === 'asc' ? '>' : '<')} (${cursor.at}, ${cursor.id})`;
}
