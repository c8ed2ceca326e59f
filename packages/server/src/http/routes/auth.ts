import { KeywardError } from '@keyward/core';
import type { FastifyReply } from 'fastify';
import type { Member, Organization, User } from '../../entities.js';
import { type AppContext, about, type ZodApp } from '../context.js';
import { cookieValue, SESSION_COOKIE } from '../request-auth.js';
import { meAnswer, messageAnswer } from '../responses.js';
import { loginBody, signupBody } from '../schemas.js';

export function presentUser(user: User) {
  return { id: user.id, email: user.email, name: user.name, created_at: new Date(user.createdAt).toISOString() };
}

export function presentMe(ctx: AppContext, user: User, organization: Organization, member: Member) {
  const plan = ctx.config.plans[organization.plan];
  return {
    user: presentUser(user),
    organization: { id: organization.id, name: organization.name, plan: organization.plan },
    role: member.role,
    member_id: member.id,
    plan: {
      name: organization.plan,
      requests_per_minute: plan?.requestsPerMinute ?? null,
      monthly_requests: plan?.monthlyRequests ?? null,
      max_active_keys: plan?.maxActiveKeys ?? null,
    },
    environments: ctx.environments.served.map((e) => ({ name: e.name, prefix: e.prefix, base_url: e.baseUrl ?? null })),
  };
}

export function setSessionCookie(ctx: AppContext, reply: FastifyReply, token: string, maxAgeMs: number): void {
  const secure = ctx.config.publicUrl.startsWith('https:') ? '; Secure' : '';
  reply.header('set-cookie', `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(maxAgeMs / 1000)}${secure}`);
}

export function authRoutes(app: ZodApp, ctx: AppContext): void {
  const tag = 'accounts';
  app.post(
    '/api/auth/signup',
    {
      config: { csrf: true },
      schema: { ...about(tag, 'Create an account and sign in', 'none'), body: signupBody, response: { 201: meAnswer } },
    },
    async (req, reply) => {
      const body = req.body;
      const {
        user,
        member,
        organization: org,
        token,
      } = await ctx.accounts.signup(
        {
          email: body.email,
          password: body.password,
          ...(body.name ? { name: body.name } : {}),
          ...(body.invite_token ? { inviteToken: body.invite_token } : {}),
        },
        ctx.auth.clientIp(req),
      );
      setSessionCookie(ctx, reply, token, ctx.config.sessionTtlMs);
      return reply.code(201).send(org ? presentMe(ctx, user, org, member) : { user: presentUser(user) });
    },
  );

  app.post(
    '/api/auth/login',
    { config: { csrf: true }, schema: { ...about(tag, 'Sign in', 'none'), body: loginBody, response: { 200: meAnswer } } },
    async (req, reply) => {
      const {
        user,
        member,
        organization: org,
        token,
      } = await ctx.accounts.login(req.body.email, req.body.password, ctx.auth.clientIp(req));
      setSessionCookie(ctx, reply, token, ctx.config.sessionTtlMs);
      return org ? presentMe(ctx, user, org, member) : { user: presentUser(user) };
    },
  );

  app.post(
    '/api/auth/logout',
    { config: { csrf: true }, schema: { ...about(tag, 'Sign out', 'session'), response: { 200: messageAnswer } } },
    async (req, reply) => {
      const token = cookieValue(req, SESSION_COOKIE);
      if (token) await ctx.accounts.logout(token);
      reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
      return { message: 'Signed out.' };
    },
  );

  app.get(
    '/api/me',
    { schema: { ...about(tag, 'The signed-in user, organization, role and plan', 'session'), response: { 200: meAnswer } } },
    async (req) => {
      const session = await ctx.auth.session(req);
      if (!session) throw new KeywardError('unauthorized', 'Not signed in.');
      return presentMe(ctx, session.user, session.organization, session.member);
    },
  );
}
