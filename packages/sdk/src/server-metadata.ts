/** An environment a keyward server issues keys for: its name and key prefix. */
export interface ServerEnvironment {
  name: string;
  prefix: string;
}

/**
 * What a keyward server says of itself in its authorization server metadata
 * (`/.well-known/oauth-authorization-server`): the HTTP status, the environments it issues keys for and the scopes
 * its sign-in grants (`null`
 * when there is no metadata, e.g. not a keyward server or a wrong URL). The one reader of that document, for
 * `login`'s pre-check and `keyward scan --print-*-config`.
 */
export async function serverMetadata(
  server: string,
  doFetch: typeof fetch = fetch,
): Promise<{
  status: number;
  environments: ServerEnvironment[] | null;
  /** The scopes its sign-in grants (admin only when the operator allows it); null when not advertised. */
  scopes: string[] | null;
  /** Where a token is asked for, and where a scope request (OpenID CIBA) is made; null when not advertised. */
  tokenEndpoint: string | null;
  backchannelEndpoint: string | null;
}> {
  const res = await doFetch(new URL('/.well-known/oauth-authorization-server', server), { headers: { accept: 'application/json' } });
  const meta = res.ok
    ? ((await res.json().catch(() => null)) as {
        keyward_environments?: { name?: unknown; prefix?: unknown }[];
        scopes_supported?: unknown;
        token_endpoint?: unknown;
        backchannel_authentication_endpoint?: unknown;
      } | null)
    : null;
  if (!meta || typeof meta !== 'object')
    return { status: res.status, environments: null, scopes: null, tokenEndpoint: null, backchannelEndpoint: null };
  const environments = (meta.keyward_environments ?? []).filter(
    (e): e is ServerEnvironment => typeof e?.name === 'string' && typeof e.prefix === 'string',
  );
  const scopes = Array.isArray(meta.scopes_supported) ? meta.scopes_supported.filter((s): s is string => typeof s === 'string') : null;
  const url = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    status: res.status,
    environments,
    scopes,
    tokenEndpoint: url(meta.token_endpoint),
    backchannelEndpoint: url(meta.backchannel_authentication_endpoint),
  };
}
