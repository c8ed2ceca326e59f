import { KeywardError, keyRefusal } from '@keyward/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodType, z } from 'zod';
import { isStorageUnavailable, storageUnavailable } from '../outage.js';
import { sentenceOf } from '../problems.js';
import { OAuthError } from '../signin/grant-service.js';
import { html, sendPage } from './html.js';

/** Validates with a zod schema; a failure becomes a 400 whose message names the field. */
export function parse<T>(schema: ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const field = result.error.issues[0]?.path[0];
  throw new KeywardError('invalid_request', messageOf(result.error.issues, 'body'), {}, typeof field === 'string' ? { field } : {});
}

/** The first problem of a failed validation, as a sentence that names the field (`scope must be one of read, …`). */
export function messageOf(issues: readonly z.core.$ZodIssue[], part: 'body' | 'query'): string {
  const issue = issues[0];
  if (!issue) return `The request ${part} is not valid.`;
  if (issue.code === 'unrecognized_keys')
    return `unknown ${part === 'query' ? 'parameter' : 'field'}${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}`;
  return sentenceOf(issue, part);
}

const FRAMEWORK_CODES: Record<number, KeywardError['code']> = {
  400: 'invalid_request',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
};

/** Any error as the catalogue's: our own as they are, the framework's by status, anything else an internal error. */
export function asKeywardError(error: FastifyError | KeywardError | Error, request: FastifyRequest): KeywardError {
  if (error instanceof KeywardError) return error;
  const status = (error as FastifyError).statusCode;
  if (typeof status === 'number' && status < 500) {
    const code = (error as FastifyError).code;
    const message =
      code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.name === 'SyntaxError'
        ? 'The request body is not valid JSON.'
        : code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
          ? 'The request body is empty; send a JSON object.'
          : code === 'FST_ERR_CTP_BODY_TOO_LARGE'
            ? 'The request body is too large.'
            : code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
              ? 'The request body must be application/json.'
              : code === 'FST_ERR_BAD_URL'
                ? 'The request URL is not valid (bad percent-encoding).'
                : code === 'FST_ERR_MAX_PARAM_LENGTH'
                  ? 'A path parameter of the URL is too long.'
                  : undefined;
    return new KeywardError(FRAMEWORK_CODES[status] ?? 'invalid_request', message);
  }
  if (isStorageUnavailable(error)) {
    logOutage(request, error);
    return storageUnavailable();
  }
  request.log.error({ err: error }, 'unhandled error');
  return new KeywardError('internal');
}

let lastOutageLog = 0;

/** Storage being away is logged at most every 10 s, not once per request refused meanwhile. */
function logOutage(request: FastifyRequest, error: Error): void {
  const now = Date.now();
  if (now - lastOutageLog < 10_000) return;
  lastOutageLog = now;
  request.log.error({ err: { message: error.message, code: (error as { code?: unknown }).code } }, 'storage unreachable: answering 503');
}

/**
 * The JSON API's error handler: the documented envelope. Nothing but 5xx reaches the log as an error. A request made
 * with an API key gets Nuvion's words on every 401 and 403, whichever service refused it; why, in `error.hint`.
 */
export function envelopeHandler(error: FastifyError | KeywardError, request: FastifyRequest, reply: FastifyReply) {
  const e = request.withKey ? keyRefusal(asKeywardError(error, request)) : asKeywardError(error, request);
  if (e.status === 401 && !e.headers['www-authenticate']) reply.header('www-authenticate', 'Bearer realm="keyward"');
  reply.headers(e.headers);
  return reply.code(e.status).send(e.toBody(String(request.id)));
}

/** The dashboard's error handler: a page in the product's look. */
export function pageHandler(error: FastifyError | KeywardError, request: FastifyRequest, reply: FastifyReply) {
  const e = asKeywardError(error, request);
  reply.headers(e.headers);
  return sendPage(reply, {
    title: e.status === 404 ? 'Not found' : 'Not done',
    status: e.status,
    body: html`<div class="card narrow"><h1>${e.status === 404 ? 'Not found' : 'That did not work'}</h1><div class="error" role="alert">${e.message}</div><a class="button secondary" href="/">Home</a></div>`,
  });
}

/** The OAuth endpoints' error handler: RFC 6749's shape, `{"error":"invalid_request","error_description":…}`. */
export function oauthHandler(error: FastifyError | KeywardError | OAuthError, request: FastifyRequest, reply: FastifyReply) {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  if (error instanceof OAuthError) return reply.code(error.status).send({ error: error.error, error_description: error.description });
  const e = asKeywardError(error, request);
  reply.headers(e.headers);
  if (e.status >= 500) return reply.code(e.status).send({ error: 'server_error', error_description: e.message });
  // RFC 6749 has no code for "too many"; `slow_down` is RFC 8628's word for it, with the wait in Retry-After.
  if (e.status === 429) return reply.code(429).send({ error: 'slow_down', error_description: e.message });
  return reply.code(e.status).send({ error: 'invalid_request', error_description: e.message });
}

/** The parts of keyward, each answering errors in its own shape: the JSON API, the OAuth endpoints, the dashboard. */
export type Surface = 'api' | 'oauth' | 'page';

const HANDLERS = { api: envelopeHandler, oauth: oauthHandler, page: pageHandler } as const;

/**
 * Makes an encapsulated plugin one part of keyward: every error of its routes (ours, and malformed, oversized or
 * invalid bodies alike) is answered in that part's shape, and each route says which part it is in its config
 * (`surface`), where the OpenAPI document reads it. Which routes speak OAuth is where they are registered, no list.
 */
export function answerErrorsAs(plugin: FastifyInstance, surface: Surface): void {
  plugin.setErrorHandler(HANDLERS[surface]);
  plugin.addHook('onRoute', (route) => {
    route.config = { ...route.config, surface };
  });
}

/**
 * Which part of keyward a URL no route took belongs to (bad URL, 414, 404). Never OAuth's: a URL its routes do not
 * take (another method, a bad percent-encoding) is the JSON API's, and answered in its envelope.
 */
export function surfaceOf(url: string): 'api' | 'page' {
  const path = url.split('?')[0] ?? '/';
  return /^\/(api|v1|\.well-known)\//.test(path) || API_ROOTS.has(path) ? 'api' : 'page';
}

const API_ROOTS = new Set(['/health', '/metrics', '/openapi.json']);

/** Errors raised by the router itself, before any route, answered in the shape of the part the URL belongs to. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  return surfaceOf(request.url) === 'page' ? pageHandler(error, request, reply) : envelopeHandler(error, request, reply);
}
