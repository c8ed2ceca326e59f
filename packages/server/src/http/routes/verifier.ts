import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import type { FeedEvent } from '../../cache/change-feed.js';
import { type AppContext, about, type ZodApp } from '../context.js';

/** A comment line every so often keeps proxies from closing a quiet stream and lets both ends see a dead one. */
const HEARTBEAT_MS = 15_000;
/** A verifier that reads this far behind is cut off; it reconnects with `Last-Event-ID` and resumes or starts clean. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

const usageBody = z
  .object({
    requests: z
      .array(
        z
          .object({
            key_id: z.string().max(64),
            org_id: z.string().max(64),
            at: z.number().int().min(0),
            method: z.string().max(16),
            path: z.string().max(2048),
            ip: z.string().max(64),
            count: z.number().int().min(1).max(1_000_000).optional().meta({ description: 'Requests alike in this row (1 when absent).' }),
            cost: z
              .number()
              .int()
              .min(0)
              .max(1_000_000_000)
              .optional()
              .meta({ description: 'Credits they spent together (count when absent).' }),
          })
          .strict(),
      )
      .max(10_000),
  })
  .strict();

const usageAnswer = z.object({
  recorded: z.number().meta({ description: 'Requests counted.' }),
  unknown: z.number().meta({ description: 'Requests naming a key that is not in the organization named: not counted.' }),
});

const leaseBody = z
  .object({
    key: z.string().min(1).max(512),
    environment: z.string().max(64).optional(),
    requests: z.number().int().min(1).max(1_000_000).meta({ description: 'Requests the verifier expects to answer soon.' }),
    credits: z
      .number()
      .int()
      .min(0)
      .max(1_000_000_000)
      .optional()
      .meta({ description: 'Credits it expects them to spend (for a key with a budget).' }),
  })
  .strict();

const leaseAnswer = z.object({
  lease: z
    .string()
    .nullable()
    .meta({ description: 'Sealed; give what is left back with POST /v1/verifier/leases/return. Null: nothing granted.' }),
  key_id: z.string().nullable(),
  requests: z.number().meta({ description: 'Requests the verifier may answer itself, until expires_in_ms pass.' }),
  credits: z.number().nullable().meta({ description: 'Credits they may spend; null when the key has no budget.' }),
  expires_in_ms: z.number(),
  rates: z.array(z.object({ until_ms: z.number(), interval_ms: z.number() })).meta({
    description:
      "Per per-minute limit: the slot of the lease's last request ends in until_ms, the others each interval_ms before it; a leased request is answered only while its slot lasts.",
  }),
  refused: z.enum(['no_key', 'not_limited', 'too_small', 'limited']).optional().meta({
    description:
      'Why nothing was granted: no working key, no limits to lease, a limit too small to lend a share of (under 20 a minute, 100 a month, or 20 requests of a budget), or its limits spent for now.',
  }),
  ratelimit: z.object({ limit: z.number(), remaining: z.number(), reset: z.number() }).nullable(),
  budget: z.object({ limit: z.number(), remaining: z.number() }).nullable(),
});

const returnBody = z
  .object({
    leases: z
      .array(
        z
          .object({
            lease: z.string().max(4096),
            requests: z.number().int().min(0).max(1_000_000),
            credits: z.number().int().min(0).max(1_000_000_000).optional(),
          })
          .strict(),
      )
      .max(10_000),
  })
  .strict();

const returnAnswer = z.object({
  returned: z.number().meta({ description: 'Leases whose unspent part went back to the key’s limits.' }),
  ignored: z.number().meta({ description: 'Leases not ours, too old (over 5 minutes past their end) or already returned.' }),
});

function frame(e: FeedEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${e.data}\n\n`;
}

/** What remote verifiers with a verifier credential use beside `POST /v1/keys/verify`: the change stream and usage reports. */
export function verifierRoutes(app: ZodApp, ctx: AppContext): void {
  const tag = 'verify';
  const open = new Set<ServerResponse>();
  // Streams never end by themselves: closing the server ends them, or it would wait for them forever.
  app.addHook('preClose', async () => {
    for (const raw of open) raw.end();
  });

  app.get(
    '/v1/verifier/events',
    {
      schema: about(
        tag,
        'Server-Sent Events of every change that alters what a key may do (verifier credential as Bearer); resume with Last-Event-ID',
        'none',
      ),
    },
    async (req, reply) => {
      ctx.auth.requireVerifier(req);
      const header = req.headers['last-event-id'];
      const raw = reply.raw;
      reply.hijack();
      // A stream is quiet by design: the server's idle timeout does not apply (the heartbeat shows it is alive).
      req.raw.socket.setTimeout(0);
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': req.id,
      });
      open.add(raw);
      const send = (text: string) => {
        if (raw.writableLength > MAX_BUFFERED_BYTES) {
          raw.destroy();
          return;
        }
        raw.write(text);
      };
      const stop = ctx.changes.subscribe((e) => send(frame(e)));
      // Subscribed first, then told where it starts: nothing falls between the two (both happen in this tick).
      const start = ctx.changes.resume(typeof header === 'string' ? header.slice(0, 100) : undefined);
      send('retry: 1000\n\n');
      if (start.reset) send(`id: ${ctx.changes.position}\nevent: reset\ndata: ${JSON.stringify({ reason: start.reason })}\n\n`);
      else {
        for (const e of start.events) send(frame(e));
        send(`id: ${ctx.changes.position}\nevent: ready\ndata: {}\n\n`);
      }
      const heartbeat = setInterval(() => send(': keep-alive\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      raw.once('close', () => {
        clearInterval(heartbeat);
        stop();
        open.delete(raw);
      });
    },
  );

  app.post(
    '/v1/verifier/leases',
    {
      onRequest: async (req) => void ctx.auth.requireVerifier(req),
      schema: {
        ...about(
          tag,
          "Lease an allowance of a limited key's per-minute limit, monthly quota and budget, spent by the verifier itself (verifier credential as Bearer)",
          'none',
        ),
        body: leaseBody,
        response: { 200: leaseAnswer },
      },
    },
    async (req) => {
      const b = req.body;
      const grant = await ctx.leases.take({
        key: b.key,
        ...(b.environment !== undefined ? { environment: b.environment } : {}),
        requests: b.requests,
        credits: b.credits ?? 0,
      });
      return {
        lease: grant.lease,
        key_id: grant.keyId,
        requests: grant.requests,
        credits: grant.credits,
        expires_in_ms: grant.expiresInMs,
        rates: grant.rates.map((r) => ({ until_ms: r.untilMs, interval_ms: r.intervalMs })),
        ...(grant.refused ? { refused: grant.refused } : {}),
        ratelimit: grant.headline.ratelimit,
        budget: grant.headline.budget,
      };
    },
  );

  app.post(
    '/v1/verifier/leases/return',
    {
      onRequest: async (req) => void ctx.auth.requireVerifier(req),
      schema: {
        ...about(tag, 'Give back what leases did not spend (verifier credential as Bearer)', 'none'),
        body: returnBody,
        response: { 200: returnAnswer },
      },
    },
    async (req) => ctx.leases.giveBack(req.body.leases.map((l) => ({ lease: l.lease, requests: l.requests, credits: l.credits ?? 0 }))),
  );

  app.post(
    '/v1/verifier/usage',
    {
      bodyLimit: 4 * 1024 * 1024,
      // The credential is checked before the body is read.
      onRequest: async (req) => void ctx.auth.requireVerifier(req),
      schema: {
        ...about(
          tag,
          'Requests a remote verifier answered from its local cache, reported in batches (verifier credential as Bearer)',
          'none',
        ),
        body: usageBody,
        response: { 200: usageAnswer },
      },
    },
    async (req) =>
      ctx.usage.recordReported(
        req.body.requests.map((r) => ({
          keyId: r.key_id,
          orgId: r.org_id,
          at: r.at,
          method: r.method,
          path: r.path,
          ip: r.ip,
          ...(r.count !== undefined ? { count: r.count } : {}),
          ...(r.cost !== undefined ? { cost: r.cost } : {}),
        })),
      ),
  );
}
