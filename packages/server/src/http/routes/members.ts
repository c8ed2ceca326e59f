import { KeywardError } from '@keyward/core';
import type { Member } from '../../entities.js';
import { type AppContext, about, actorOf, type ZodApp } from '../context.js';
import { invitationAnswer, memberAnswer, memberListAnswer, removedMemberAnswer } from '../responses.js';
import { idParams, inviteBody, pageQuery, pageRequestOf, roleBody } from '../schemas.js';

function presentMember(m: Member) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: m.id,
    email: m.email,
    role: m.role,
    status: m.userId ? ('active' as const) : ('invited' as const),
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

export function memberRoutes(app: ZodApp, ctx: AppContext): void {
  const tag = 'members';
  const config = { auth: 'management' } as const;

  app.post(
    '/api/org/members',
    { config, schema: { ...about(tag, 'Invite a member (admins)', 'management'), body: inviteBody, response: { 201: invitationAnswer } } },
    async (req, reply) => {
      const { member, inviteToken } = await ctx.members.invite(actorOf(req), req.body.email, req.body.role);
      return reply.code(201).send({
        member: presentMember(member),
        invite_token: inviteToken,
        invite_url: `${ctx.config.publicUrl}/signup?invite_token=${encodeURIComponent(inviteToken)}`,
      });
    },
  );

  app.get(
    '/api/org/members',
    {
      config,
      schema: {
        ...about(tag, 'List members and pending invitations, oldest first, a page at a time', 'management'),
        querystring: pageQuery,
        response: { 200: memberListAnswer },
      },
    },
    async (req) => {
      const page = await ctx.members.list(actorOf(req), pageRequestOf(req.query));
      return { members: page.items.map(presentMember), next_cursor: page.next };
    },
  );

  app.patch(
    '/api/org/members/:id',
    {
      config,
      schema: {
        ...about(tag, "Change a member's role (admins)", 'management'),
        params: idParams,
        body: roleBody,
        response: { 200: memberAnswer },
      },
    },
    async (req) => ({ member: presentMember(await ctx.members.changeRole(actorOf(req), memberId(req.params.id), req.body.role)) }),
  );

  app.delete(
    '/api/org/members/:id',
    {
      config,
      schema: {
        ...about(tag, 'Remove a member (admins); their keys stop working', 'management'),
        params: idParams,
        response: { 200: removedMemberAnswer },
      },
    },
    async (req) => {
      const member = await ctx.members.remove(actorOf(req), memberId(req.params.id));
      return { message: 'Member removed.', member: presentMember(member) };
    },
  );
}
