import { checksumMatches, explainingFetch, KEY_BODY_LENGTH } from '@keyward/core';
import { accountFor, type Profile, Profiles } from '../profiles.js';
import { keywardProvider, type Provider } from '../providers.js';
import { revokeOwnKey } from '../revoke.js';
import { osSecretStore, type SecretStore, SecretStoreUnavailableError } from '../secret-store.js';
import { serverMetadata } from '../server-metadata.js';
import { startCallbackServer } from './callback-server.js';
import { openBrowser } from './open-browser.js';
import { newPkce } from './pkce.js';

export interface LoginOptions {
  provider?: Provider;
  server?: string;
  environment?: string;
  name?: string;
  scope?: string;
  mode?: 'loopback' | 'device' | 'manual';
  /** Open the sign-in URL in a browser (it is printed either way). */
  openBrowser?: boolean;
  timeoutMs?: number;
  /** The API base the key is checked against (the Nevermined preset's `GET {API_BASE}/payment-methods`). */
  apiBase?: string;
  store?: SecretStore;
  profiles?: Profiles;
  /** Progress for the person, one line at a time. Never given the key. */
  say?: (line: string) => void;
  /**
   * A wait that may take long (the browser sign-in, the device approval) begins: show it (a CLI spins on a
   * terminal) and return what ends it. Without it, the wait is said as a line.
   */
  waiting?: (what: string) => () => void;
  /**
   * `store` (default): keep the key in the OS secret store, checked before anything is opened. `return`: keep
   * nothing and hand the key back (`keyward login --stdout` gives it once to a pipe for a secrets manager).
   */
  keep?: 'store' | 'return';
  /** Reads a pasted key without echoing it (manual mode). */
  readSecret?: () => Promise<string>;
  /** Manual mode reads the key from a pipe, not a person at a terminal: no prompt to paste. */
  pasteFromPipe?: boolean;
  fetch?: typeof fetch;
}

interface Captured {
  raw: string;
  environment: string | null;
  keyId: string | null;
  display: string | null;
}

export class LoginError extends Error {
  override name = 'LoginError';
}

/**
 * Gets an agent its key with one human sign-in, checks it, and keeps it in the OS secret store.
 *
 * @example
 * ```ts
 * const { profile } = await login({ server: 'https://keys.example.com', environment: 'live', name: 'billing-agent' });
 * ```
 */
export async function login(o: LoginOptions = {}): Promise<{ account: string; profile: Profile; key?: string }> {
  const provider = o.provider ?? keywardProvider;
  const server = new URL(o.server ?? provider.defaultServer).origin;
  const say = o.say ?? (() => {});
  const doFetch = explainingFetch(o.fetch ?? fetch);
  const mode = o.mode ?? 'loopback';
  if (provider.name !== 'keyward' && mode === 'device')
    throw new LoginError(`the ${provider.name} preset has no device flow; use the browser or --manual`);

  if (provider.name === 'keyward') await preflight(server, o.environment, o.scope, doFetch);
  // A store that cannot keep the key is found out before a browser opens or a key is minted.
  const keep = o.keep ?? 'store';
  const store = o.store ?? osSecretStore();
  if (keep === 'store') await store.probe?.();

  const captured =
    mode === 'manual'
      ? await manual(o, provider, server, say)
      : mode === 'device'
        ? await device(o, server, say, doFetch)
        : await loopback(o, provider, server, say, doFetch);

  const environment = o.environment ?? captured.environment ?? (provider.name === 'keyward' ? null : 'sandbox');
  checkShape(provider, captured.raw, environment);
  if (o.environment && captured.environment && captured.environment !== o.environment) {
    throw new LoginError(`asked for a ${o.environment} key but received a ${captured.environment} key; nothing was stored`);
  }

  say('Checking the key…');
  const res = await doFetch(provider.verifyUrl(server, environment ?? '', o.apiBase), {
    headers: { authorization: `Bearer ${captured.raw}`, accept: 'application/json' },
  });
  if (!res.ok) throw new LoginError(`the key did not work: ${res.status} ${await res.text().then((t) => t.slice(0, 200))}`);
  const info = provider.name === 'keyward' ? ((await res.json()) as { id?: string; environment?: string }) : {};
  const finalEnv = environment ?? info.environment ?? 'default';
  if (o.environment && info.environment && info.environment !== o.environment) {
    throw new LoginError(`asked for a ${o.environment} key but the key belongs to ${info.environment}; nothing was stored`);
  }

  const account = accountFor(provider.name, server, finalEnv);
  const profile: Profile = {
    provider: provider.name,
    server,
    environment: finalEnv,
    keyId: captured.keyId ?? info.id ?? null,
    display: captured.display ?? `${captured.raw.slice(0, captured.raw.length - KEY_BODY_LENGTH)}…${captured.raw.slice(-4)}`,
    savedAt: new Date().toISOString(),
  };
  if (keep === 'return') return { account, profile, key: captured.raw };
  try {
    await store.set(account, captured.raw);
  } catch (error) {
    if (error instanceof SecretStoreUnavailableError && provider.name === 'keyward' && captured.keyId) {
      // A key this sign-in minted and nobody can keep is a loose end: revoke it rather than leave it working, and
      // say so when that fails. (A pasted key is the person's own: it stays.)
      const outcome = await revokeOwnKey(server, captured.keyId, captured.raw, doFetch);
      error.message += outcome.revoked
        ? `\nThe key this sign-in created (${captured.keyId}) has been revoked on the server.`
        : `\nThe key this sign-in created (${captured.keyId}) could NOT be revoked (${outcome.reason}): it still works; revoke it in the dashboard.`;
    }
    throw error;
  }
  (o.profiles ?? new Profiles()).save(account, profile);
  return { account, profile };
}

/**
 * Before any URL is printed: is there a keyward server at `server`, and does it issue keys for the environment
 * asked for? Fails at once with the reason, instead of a browser page that says it while the terminal waits.
 * (Nevermined's servers publish no such metadata, so its preset skips this.)
 */
async function preflight(server: string, environment: string | undefined, scope: string | undefined, doFetch: typeof fetch): Promise<void> {
  const { status, environments, scopes } = await serverMetadata(server, doFetch);
  if (!environments)
    throw new LoginError(`${server} does not look like a keyward server (its sign-in metadata answered ${status}); check --server`);
  const names = environments.map((e) => e.name);
  if (environment && names.length > 0 && !names.includes(environment)) {
    throw new LoginError(`${server} has no environment "${environment}"; it issues keys for ${names.join(', ')} (--environment)`);
  }
  const grantable = scopes?.filter((s) => s !== 'offline_access') ?? [];
  if (scope && grantable.length > 0 && !grantable.includes(scope)) {
    throw new LoginError(
      scope === 'admin'
        ? `${server} does not give admin keys to a sign-in (its operator has not allowed it): ask for ${grantable.at(-1)} or less, or create an admin key in the dashboard`
        : `${server} does not give ${scope} keys to a sign-in; it gives ${grantable.join(', ')} (--scope)`,
    );
  }
}

/** A keyward key ends in 36 random base62 characters and their CRC-32: a typo is caught before any request. */
function checkShape(provider: Provider, raw: string, environment: string | null): void {
  if (/\s/.test(raw) || raw.length < 8 || raw.length > 512) throw new LoginError('that does not look like an API key');
  const prefix = environment ? provider.prefixFor(environment) : null;
  if (prefix && !raw.startsWith(prefix)) {
    throw new LoginError(
      `asked for a ${environment} key (it would start with "${prefix}") but received one that does not; nothing was stored`,
    );
  }
  if (provider.name === 'keyward') {
    if (!checksumMatches(raw.slice(-KEY_BODY_LENGTH))) {
      throw new LoginError('that is not a valid keyward key (its checksum does not match: mistyped or truncated?)');
    }
  }
}

async function loopback(
  o: LoginOptions,
  provider: Provider,
  server: string,
  say: (l: string) => void,
  doFetch: typeof fetch,
): Promise<Captured> {
  const pkce = newPkce();
  const direct = provider.callback.kind === 'direct' ? provider.callback.param : null;
  const cb = await startCallbackServer({
    timeoutMs: o.timeoutMs ?? 300_000,
    requireParam: (p) => (direct ? Boolean(p.get(direct)) : Boolean(p.get('code'))),
  });
  cb.setState(pkce.state);
  let url: URL;
  if (direct) {
    // The direct-key preset passes only callback_url, so the state travels inside it.
    const callback = new URL(cb.callbackUrl);
    callback.searchParams.set('state', pkce.state);
    url = new URL('/auth/cli', server);
    url.searchParams.set('callback_url', callback.toString());
  } else {
    url = new URL('/auth/cli', server);
    const q = {
      callback_url: cb.callbackUrl,
      state: pkce.state,
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      client_id: 'keyward-cli',
      ...(o.environment ? { environment: o.environment } : {}),
      ...(o.name ? { name: o.name } : {}),
      ...(o.scope ? { scope: o.scope } : {}),
    };
    for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v);
  }
  say('Open this URL to sign in and approve the key (it expires when this command stops):');
  say(`  ${url.toString()}`);
  if (o.openBrowser) openBrowser(url.toString());
  const done = waitingFor(o, say, `Waiting for the browser on 127.0.0.1:${cb.port} …`);
  const { params } = await cb.wait().finally(done);
  if (direct) return { raw: params.get(direct) as string, environment: null, keyId: null, display: null };

  const res = await doFetch(new URL('/api/cli/token', server), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({
      grant_type: 'authorization_code',
      code: params.get('code'),
      code_verifier: pkce.verifier,
      redirect_uri: cb.callbackUrl,
    }),
  });
  return tokenAnswer(res);
}

async function tokenAnswer(res: Response): Promise<Captured> {
  const body = (await res.json().catch(() => ({}))) as {
    access_token?: string;
    error?: string;
    error_description?: string;
    key?: { id: string; environment: string; display: string };
  };
  if (!res.ok || !body.access_token)
    throw new LoginError(`the server did not issue a key: ${body.error_description ?? body.error ?? res.status}`);
  return {
    raw: body.access_token,
    environment: body.key?.environment ?? null,
    keyId: body.key?.id ?? null,
    display: body.key?.display ?? null,
  };
}

async function device(o: LoginOptions, server: string, say: (l: string) => void, doFetch: typeof fetch): Promise<Captured> {
  const start = await doFetch(new URL('/api/device/code', server), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_id: 'keyward-cli',
      ...(o.environment ? { environment: o.environment } : {}),
      ...(o.name ? { name: o.name } : {}),
      ...(o.scope ? { scope: o.scope } : {}),
    }),
  });
  const d = (await start.json()) as {
    device_code: string;
    user_code: string;
    verification_uri: string;
    verification_uri_complete: string;
    interval: number;
    expires_in: number;
    error_description?: string;
  };
  if (!start.ok) throw new LoginError(`the server refused the device sign-in: ${d.error_description ?? start.status}`);
  say(`On any device, open ${d.verification_uri} and enter the code ${d.user_code}`);
  say(`  (or open ${d.verification_uri_complete})`);
  if (o.openBrowser) openBrowser(d.verification_uri_complete);
  const deadline = Date.now() + Math.min(d.expires_in * 1000, o.timeoutMs ?? Number.POSITIVE_INFINITY);
  const done = waitingFor(o, say, `Waiting for the code ${d.user_code} to be approved …`);
  try {
    return await pollDevice(server, d.device_code, d.interval * 1000, deadline, doFetch);
  } finally {
    done();
  }
}

/** The start of a long wait, shown by `o.waiting` when given, else said as a line; returns what ends it. */
function waitingFor(o: LoginOptions, say: (line: string) => void, what: string): () => void {
  if (o.waiting) return o.waiting(what);
  say(what);
  return () => {};
}

async function pollDevice(server: string, deviceCode: string, every: number, deadline: number, doFetch: typeof fetch): Promise<Captured> {
  let interval = every;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, interval));
    const res = await doFetch(new URL('/api/device/token', server), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode }),
    });
    if (res.ok) return tokenAnswer(res);
    const e = (await res.json().catch(() => ({}))) as { error?: string; error_description?: string };
    if (e.error === 'authorization_pending') continue;
    if (e.error === 'slow_down') {
      interval += 5000;
      continue;
    }
    throw new LoginError(
      e.error === 'access_denied' ? 'the sign-in was denied' : `the device sign-in ended: ${e.error_description ?? e.error}`,
    );
  }
  throw new LoginError('the device code expired before it was approved');
}

async function manual(o: LoginOptions, provider: Provider, server: string, say: (l: string) => void): Promise<Captured> {
  if (!o.readSecret) throw new LoginError('manual paste needs a terminal or standard input');
  if (o.pasteFromPipe) say('Reading the key from standard input…');
  else {
    const where = provider.name === 'keyward' ? `${server}/dashboard/keys ("Create key")` : `${server}'s dashboard`;
    say(`Create a key at ${where} for the ${o.environment ?? 'right'} environment, then paste it here.`);
    say('Paste the key (input is hidden): ');
  }
  const raw = (await o.readSecret()).trim();
  if (!raw) throw new LoginError('no key was pasted');
  return { raw, environment: null, keyId: null, display: null };
}
