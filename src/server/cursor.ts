/**
 * Page cursors: opaque to clients (base64url JSON), checked when they come back: a cursor that
 * does not decode is a 400 naming the `cursor` field, never a backend error.
 */
import { badField } from './http-errors.js';

export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Decodes a cursor whose fields have the types of `shape` (`'string'` or `'number'`). */
export function decodeCursor<T extends Record<string, string | number>>(cursor: string, shape: { [K in keyof T]: 'string' | 'number' }): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badField('cursor', 'not a cursor this server gave (pass back nextCursor unchanged)');
  }
  if (typeof value !== 'object' || value === null) throw badField('cursor', 'not a cursor this server gave (pass back nextCursor unchanged)');
  for (const [key, type] of Object.entries(shape)) {
    const field = (value as Record<string, unknown>)[key];
    const ok = type === 'number' ? typeof field === 'number' && Number.isSafeInteger(field) && field >= 0 : typeof field === 'string';
    if (!ok) throw badField('cursor', 'not a cursor this server gave (pass back nextCursor unchanged)');
  }
  return value as T;
}
