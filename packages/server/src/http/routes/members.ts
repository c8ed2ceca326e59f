import { KeywardError } from '@keyward/core';
import type { FastifyInstance } from 'fastify';
import type { Member } from '../../entities.js';
import { type AppContext, type RouteDoc, route } from '../context.js';
import { parse } from '../errors.js';
import { inviteBody, roleBody } from '../schemas.js';

function presentMember(m: Member) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: m.id,
    email: m.email,
    role: m.role,
    status: m.userId ? 'active' : 'invited',
    user_id: m.userId,
    invited_by: m.invitedBy,
    created_at: iso(m.createdAt),
    joined_at: iso(m.joinedAt),
    invite_expires_at: iso(m.inviteExpiresAt),
  };
}

const memberId = (id: string) => {
  if (!/^mem_[0-9A-Za-z]{22}$/.test(id)) throw new KeywardError('not_found', 'No such member.');
  return id;
};

export function memberRoutes(app: FastifyInstance, ctx: AppContext, docs: RouteDoc[]): void {
  const tag = 'members';
  route(
    app,
    docs,
    { method: 'POST', path: '/api/org/members', summary: 'Invite a member (admins)', auth: 'management', body: inviteBody, tag },
    async (req, reply) => {
      const actor = await ctx.auth.actor(req, reply);
      const body = parse(inviteBody, req.body);
      const { member, inviteToken } = await ctx.members.invite(actor, body.email, body.role);
      return reply.code(201).send({
        member: presentMember(member),
        invite_token: inviteToken,
        invite_url: `${ctx.config.publicUrl}/signup?invite_token=${encodeURIComponent(inviteToken)}`,
      });
    },
  );

  route(
    app,
    docs,
    { method: 'GET', path: '/api/org/members', summary: 'List members and pending invitations', auth: 'management', tag },
    async (req, reply) => {
      const actor = await ctx.auth.actor(req, reply);
      return { members: (await ctx.members.list(actor)).map(presentMember) };
    },
  );

  route(
    app,
    docs,
    { method: 'PATCH', path: '/api/org/members/:id', summary: "Change a member's role (admins)", auth: 'management', body: roleBody, tag },
    async (req, reply) => {
      const actor = await ctx.auth.actor(req, reply);
      const body = parse(roleBody, req.body);
      const member = await ctx.members.changeRole(actor, memberId((req.params as { id: string }).id), body.role);
      return { member: presentMember(member) };
    },
  );

  route(
    app,
    docs,
    {
      method: 'DELETE',
      path: '/api/org/members/:id',
      summary: 'Remove a member (admins); their keys stop working',
      auth: 'management',
      tag,
    },
    async (req, reply) => {
      const actor = await ctx.auth.actor(req, reply);
      const member = await ctx.members.remove(actor, memberId((req.params as { id: string }).id));
      return { message: 'Member removed.', member: presentMember(member) };
    },
  );
}
