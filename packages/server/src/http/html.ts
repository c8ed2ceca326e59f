import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '@keyward/core';
import type { FastifyReply } from 'fastify';

/** Markup that is already safe. Everything else put into `html` is escaped. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

type Part = SafeHtml | string | number | null | undefined | false | Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (Array.isArray(part)) return part.map(render).join('');
  if (part instanceof SafeHtml) return part.value;
  return escapeHtml(part);
}

/** A tagged template that escapes every interpolated value unless it is `SafeHtml`: user input renders as text. */
export function html(strings: TemplateStringsArray, ...values: Part[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

export interface PageOptions {
  title: string;
  body: SafeHtml;
  status?: number;
  /** Origins a form on this page may submit to or be redirected to (the loopback callback of a sign-in). */
  formTargets?: string[];
  /** The signed-in person, for the header. */
  user?: { email: string; csrf: string } | null;
  nav?: SafeHtml;
}

/**
 * Sends a page with the product's look and its security headers: a Content-Security-Policy that allows only our
 * own styles and scripts, no framing, no referrer, no caching.
 */
export function sendPage(reply: FastifyReply, o: PageOptions) {
  const csp = [
    "default-src 'none'",
    "style-src 'self'",
    "script-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    `form-action 'self'${(o.formTargets ?? []).map((t) => ` ${t}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  const header = o.user
    ? html`<form method="post" action="/logout" class="signout"><input type="hidden" name="csrf" value="${o.user.csrf}"><span>${o.user.email}</span> <button type="submit" class="link">Sign out</button></form>`
    : '';
  const doc = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · keyward</title><link rel="stylesheet" href="/assets/keyward.css"><script src="/assets/keyward.js" defer></script></head>
<body><header class="top"><a class="brand" href="/">keyward</a>${o.nav ?? ''}${header}</header>
<main>${o.body}</main></body></html>`;
  return reply
    .code(o.status ?? 200)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', csp)
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .send(doc.value);
}

/** A form's CSRF token: bound to the session, so a page of another site cannot know it. */
export function csrfToken(secret: string, sessionId: string): string {
  return createHmac('sha256', secret).update(`csrf:${sessionId}`).digest('base64url');
}

export function csrfValid(secret: string, sessionId: string, token: unknown): boolean {
  return typeof token === 'string' && constantTimeEqual(csrfToken(secret, sessionId), token);
}

/** Only same-site paths: `/x` yes, `//evil.example` or `https://…` no. Anything else becomes `fallback`. */
export function safeNext(next: unknown, fallback = '/'): string {
  // Browsers drop tabs and line breaks and read `\\` as `/`, so `/\t/evil.example` would leave the site: anything
  // but a plain path of our own is refused, and the result is re-read against a placeholder origin to make sure.
  if (typeof next !== 'string' || next.length >= 2048 || !/^\/(?![/\\])/.test(next) || /[\u0000-\u0020\u007f\\]/.test(next))
    return fallback;
  const url = new URL(next, 'http://keyward.invalid');
  return url.origin === 'http://keyward.invalid' ? url.pathname + url.search + url.hash : fallback;
}
