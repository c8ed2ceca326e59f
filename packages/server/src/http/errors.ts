import { KeywardError } from '@keyward/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodType } from 'zod';
import { html, sendPage } from './html.js';

/** Validates with a zod schema; a failure becomes a 400 whose message names the field. */
export function parse<T>(schema: ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'body';
  const message =
    issue?.code === 'unrecognized_keys'
      ? `unknown field${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}`
      : issue?.code === 'invalid_type'
        ? `${where} must be ${issue.expected}`
        : `${where}: ${issue?.message ?? 'invalid'}`;
  throw new KeywardError('invalid_request', issue?.code === 'unrecognized_keys' ? message : message.replace(/^body: /, ''));
}

const FRAMEWORK_CODES: Record<number, KeywardError['code']> = {
  400: 'invalid_request',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

/** A person's browser on a page route: errors are pages there, the envelope everywhere else. */
export function wantsPage(request: FastifyRequest): boolean {
  const path = request.url;
  return (
    String(request.headers.accept ?? '').includes('text/html') &&
    !path.startsWith('/api/') &&
    !path.startsWith('/v1/') &&
    !path.startsWith('/.well-known/')
  );
}

/** The one place that turns any error into the documented envelope. Nothing but 5xx reaches the log as an error. */
export function errorHandler(error: FastifyError | KeywardError, request: FastifyRequest, reply: FastifyReply) {
  let e: KeywardError;
  if (error instanceof KeywardError) e = error;
  else if (typeof error.statusCode === 'number' && error.statusCode < 500) {
    const code = FRAMEWORK_CODES[error.statusCode] ?? 'invalid_request';
    const message =
      error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.name === 'SyntaxError'
        ? 'The request body is not valid JSON.'
        : error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
          ? 'The request body is empty; send a JSON object.'
          : error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
            ? 'The request body is too large.'
            : error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
              ? 'The request body must be application/json.'
              : undefined;
    e = new KeywardError(code, message);
  } else {
    request.log.error({ err: error }, 'unhandled error');
    e = new KeywardError('internal');
  }
  if (wantsPage(request)) {
    return sendPage(reply, {
      title: e.status === 404 ? 'Not found' : 'Not done',
      status: e.status,
      body: html`<div class="card narrow"><h1>${e.status === 404 ? 'Not found' : 'That did not work'}</h1><div class="error" role="alert">${e.message}</div><a class="button secondary" href="/">Home</a></div>`,
    });
  }
  if (e.status === 401 && !e.headers['www-authenticate']) reply.header('www-authenticate', 'Bearer realm="keyward"');
  for (const [name, value] of Object.entries(e.headers)) reply.header(name, value);
  return reply.code(e.status).send(e.toBody(String(request.id)));
}
