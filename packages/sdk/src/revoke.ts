import { explainingFetch } from '@keyward/core';
/** What became of asking a keyward server to revoke a key with itself. */
export type RevokeOutcome = { revoked: true; already: boolean } | { revoked: false; reason: string };

/**
 * Revokes a key with the key itself as credential (every key may revoke itself, whatever its scope) and reports
 * what happened, rather than assuming: 200 is revoked, 401 means it no longer works anyway, anything else (or no
 * answer) is a failure that names its cause.
 */
export async function revokeOwnKey(
  server: string,
  keyId: string,
  rawKey: string,
  doFetch: typeof fetch = explainingFetch(),
): Promise<RevokeOutcome> {
  let res: Response;
  try {
    res = await doFetch(new URL(`/api/developers/keys/${encodeURIComponent(keyId)}`, server), {
      method: 'DELETE',
      headers: { authorization: `Bearer ${rawKey}` },
    });
  } catch (error) {
    return { revoked: false, reason: `cannot reach ${new URL(server).origin} (${(error as Error).message})` };
  }
  if (res.ok) return { revoked: true, already: false };
  if (res.status === 401) return { revoked: true, already: true };
  const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
  return { revoked: false, reason: `${res.status}${body?.error?.message ? `: ${body.error.message}` : ''}` };
}
