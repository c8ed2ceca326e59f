import { displayKey, KEY_BODY_LENGTH, KeywardError } from '@keyward/core';
import { z } from 'zod';
import { type AppContext, about, type ZodApp } from '../context.js';
import { parse } from '../errors.js';
import { checkKeysBody, leakFindings, reportLeakBody } from '../schemas.js';
import { checkParsedText } from '../text-rule.js';

/** A found key as it may be shown: `prefix…last4`, or `…` for text too short to be a key. */
const displayOf = (token: string) => (token.length > KEY_BODY_LENGTH ? displayKey(token.slice(0, -KEY_BODY_LENGTH), token.slice(-4)) : '…');

const feedbackAnswer = z.array(
  z.object({ token_hash: z.string(), token_type: z.string(), label: z.enum(['true_positive', 'false_positive']) }),
);

/**
 * Leak reports: GitHub's secret-scanning partner endpoint (a signed JSON array of findings, answered with GitHub's
 * feedback array) and `report-leak`, where anyone may report a key they found (answered the same whatever the key).
 */
export function leakRoutes(app: ZodApp, ctx: AppContext): void {
  const tag = 'leaks';
  // The signature covers the body as sent: this route takes it as bytes and parses it only once it is verified.
  app.register(async (signed: ZodApp) => {
    // GitHub batches findings (up to 1,000 here): more than the API's 64 KB body limit.
    signed.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_req, body, done) => done(null, body));
    signed.post(
      '/api/leaks/github',
      {
        config: { auth: 'none' },
        schema: {
          ...about(tag, "GitHub secret scanning's partner endpoint: findings signed by GitHub; answers its feedback", 'none'),
          response: { 200: feedbackAnswer },
        },
      },
      async (req) => {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const header = (name: string) => {
          const v = req.headers[name];
          return typeof v === 'string' ? v : undefined;
        };
        await ctx.leaks.verifyGitHub(body, header('github-public-key-identifier'), header('github-public-key-signature'));
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          throw new KeywardError('invalid_request', 'The report is not JSON.');
        }
        checkParsedText(json);
        return ctx.leaks.handle(parse(leakFindings, json), 'github');
      },
    );
  });

  app.post(
    '/v1/keys/check',
    {
      config: { auth: 'none' },
      schema: {
        ...about(
          tag,
          'Which of these found keys are live (keyward scan --check, up to 100 a call); never logged, each call one unit of leak_reports per address',
          'none',
        ),
        body: checkKeysBody,
        response: {
          200: z.object({ keys: z.array(z.object({ display: z.string(), status: z.enum(['live', 'revoked', 'expired', 'unknown']) })) }),
        },
      },
    },
    async (req) => {
      const statuses = await ctx.leaks.check(req.body.keys, ctx.auth.clientIp(req));
      // Answered by display form (prefix…last4), in the order asked: the answer never carries a whole key.
      return { keys: req.body.keys.map((k, i) => ({ display: displayOf(k), status: statuses[i] ?? 'unknown' })) };
    },
  );

  app.post(
    '/v1/keys/report-leak',
    {
      config: { auth: 'none' },
      schema: {
        ...about(tag, 'Report a key found in public; a live key is revoked. The answer never says whether it was one', 'none'),
        body: reportLeakBody,
        response: { 202: z.object({ received: z.literal(true) }) },
      },
    },
    async (req, reply) => {
      const finding = { token: req.body.key, type: 'keyward_api_key', url: req.body.url ?? null, source: 'report' };
      await ctx.leaks.report(finding, ctx.auth.clientIp(req));
      return reply.code(202).send({ received: true });
    },
  );
}
