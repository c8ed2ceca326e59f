import { KeywardError } from '@keyward/core';
import type { FastifyRequest } from 'fastify';

/** C0 controls and DEL. JSON bodies may carry tab, line feed and carriage return inside text; nothing else may. */
const CONTROL_IN_BODY = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/** In query parameters and path segments even those are refused: no name, id, code or URL needs them. */
const CONTROL_IN_URL = /[\u0000-\u001f\u007f]/;
/** How deep a JSON body may nest. Our deepest schema (metadata inside a key) needs 3; metadata itself may use 8. */
export const MAX_JSON_DEPTH = 10;

/**
 * Refuses text that storage cannot keep or that no person meant: NUL and other control characters anywhere in a
 * body, query string or path parameter, a query parameter given twice, and JSON nested deeper than `MAX_JSON_DEPTH`. One rule, run before every
 * route's own validation (in whichever error shape the route's plugin answers): PostgreSQL refuses NUL in text,
 * and a value refused here can never poison a later write.
 */
export function checkText(request: FastifyRequest): void {
  const own = request.routeOptions.config?.ownText ?? [];
  for (const [name, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) {
    // OAuth forbids repeating a parameter (RFC 6749 §3.1), and no route of ours takes a list from the query.
    if (Array.isArray(value)) throw new KeywardError('invalid_request', `The query parameter ${name} is given more than once.`);
  }
  fields(request.query, CONTROL_IN_URL, own);
  fields(request.params, CONTROL_IN_URL, own);
  // A route that takes its body as bytes (a signed body must be checked as sent) applies the rule once it parsed it.
  if (Buffer.isBuffer(request.body)) return;
  if (typeof request.body === 'string') scan(request.body, 'body', CONTROL_IN_BODY, 0);
  else fields(request.body, CONTROL_IN_BODY, own);
}

/** The rule for a body a route parsed itself (see {@link checkText}). */
export function checkParsedText(body: unknown): void {
  fields(body, CONTROL_IN_BODY, []);
}

/** Each top-level field, named in the error by its own name (`name must not contain…`), whatever depth it fails at. */
function fields(value: unknown, control: RegExp, own: string[]): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    scan(value, 'body', control, 0);
    return;
  }
  for (const [name, item] of Object.entries(value)) {
    if (own.includes(name)) continue;
    scan(name, 'a field name', control, 0);
    scan(item, name, control, 1);
  }
}

function scan(value: unknown, field: string, control: RegExp, depth: number): void {
  if (typeof value === 'string') {
    if (control.test(value)) throw new KeywardError('invalid_request', `${field} must not contain control characters (such as NUL).`);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (depth >= MAX_JSON_DEPTH)
    throw new KeywardError('invalid_request', `${field} is nested too deeply (at most ${MAX_JSON_DEPTH} levels).`);
  if (Array.isArray(value)) {
    for (const item of value) scan(item, field, control, depth + 1);
    return;
  }
  for (const [name, item] of Object.entries(value)) {
    scan(name, field, control, depth + 1);
    scan(item, field, control, depth + 1);
  }
}
