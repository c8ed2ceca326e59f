import { randomBytes } from 'node:crypto';
import { fitKeyName, importedKeyName, keyNameProblem } from '@keyward/core';
import type { Clock } from '../ids.js';
import { fetchOutbound, OutboundError } from '../net/outbound.js';
import type { GrantStore, OAuthClient } from '../storage/store.js';
import { type Throttles, tooMany } from '../throttle/throttles.js';
import { loopbackCallback, OAuthError } from './grant-service.js';

/** A client as a sign-in sees it: who (a name people read), where it may return to, and how it is known. */
export interface KnownClient {
  clientId: string;
  name: string;
  redirectUris: string[];
  /** `registered` (RFC 7591), `metadata-document` (a Client ID Metadata Document at an https URL). */
  kind: 'registered' | 'metadata-document';
}

/**
 * keyward's own public clients, by the client_id they send, with what a person is told they are. A name proves
 * nothing by itself; what makes these safe to name is where the key goes: a free-text client_id returns only to a
 * loopback address (a program on the person's own computer) or to the device that shows the person's code.
 */
const FIRST_PARTY_CLIENTS: Record<string, { name: string; what: string }> = {
  'keyward-cli': {
    name: 'keyward CLI',
    what: "keyward's own command-line program: the keyward login command, run in a terminal.",
  },
};

/** keyward's own client a sign-in names, if it names one (see {@link FIRST_PARTY_CLIENTS}). */
export function firstPartyClient(clientId: string | null | undefined): { name: string; what: string } | undefined {
  // Own properties only: a client_id such as "constructor" must not find Object's.
  return clientId && Object.hasOwn(FIRST_PARTY_CLIENTS, clientId) ? FIRST_PARTY_CLIENTS[clientId] : undefined;
}

const GRANT_TYPES = ['authorization_code', 'refresh_token'];
const CIMD_MAX_BYTES = 5 * 1024;
const CIMD_TIMEOUT_MS = 5000;
const CIMD_CACHE_MS = 5 * 60_000;
/** Document fetches under way at once in this process; past it a sign-in that needs one answers 429 at once. */
const CIMD_IN_FLIGHT = 16;

/**
 * A redirect URI a public client may register: https (no fragment, no credentials), or http on a loopback address
 * (RFC 8252; its port may change from run to run).
 */
export function redirectUriProblem(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.length > 2048) return 'redirect_uris must be strings of at most 2048 characters';
  if (loopbackCallback(raw)) return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return `${raw} is not an absolute URL`;
  }
  if (u.protocol !== 'https:') return `${raw}: redirect URIs must be https, or http on 127.0.0.1, [::1] or localhost`;
  if (u.hash || u.username || u.password) return `${raw}: no fragment or credentials in a redirect URI`;
  return null;
}

/** Whether `asked` is one of `registered`: exactly, or for loopback URIs on any port (RFC 8252 7.3). */
export function redirectAllowed(registered: readonly string[], asked: string): boolean {
  const loop = loopbackCallback(asked);
  return registered.some((r) => {
    if (r === asked) return true;
    const reg = loopbackCallback(r);
    return !!(loop && reg && reg.hostname === loop.hostname && reg.pathname === loop.pathname && reg.search === loop.search);
  });
}

/**
 * OAuth clients that come by themselves: registered with RFC 7591 dynamic registration (public clients only,
 * loopback or https redirect URIs, throttled per address, listed and revoked by the operator), or named by a Client
 * ID Metadata Document: an https `client_id` whose document (fetched with the SSRF guard, read as a stream of 5 KB
 * at most within 5 s, cached 5 minutes) names itself and its redirect URIs. Fetches are throttled per client address
 * (`throttles.metadata_documents`, charged before the fetch), at most {@link CIMD_IN_FLIGHT} run at once, and
 * simultaneous sign-ins naming one document share one fetch.
 */
export class ClientRegistry {
  readonly #documents = new Map<string, { client: KnownClient | null; until: number }>();
  readonly #fetching = new Map<string, Promise<KnownClient>>();

  constructor(private readonly deps: { store: GrantStore; clock: Clock; throttles: Throttles; allowPrivateDocuments: boolean }) {}

  async register(meta: Record<string, unknown>, address: string): Promise<OAuthClient> {
    const uris = meta.redirect_uris;
    if (!Array.isArray(uris) || uris.length === 0 || uris.length > 10)
      throw new OAuthError('invalid_redirect_uri', 'redirect_uris: one to ten redirect URIs are required.');
    for (const uri of uris) {
      const problem = redirectUriProblem(uri);
      if (problem) throw new OAuthError('invalid_redirect_uri', problem);
    }
    const method = meta.token_endpoint_auth_method ?? 'none';
    if (method !== 'none')
      throw new OAuthError(
        'invalid_client_metadata',
        'token_endpoint_auth_method must be none: this server registers public clients (PKCE).',
      );
    const grants = meta.grant_types ?? ['authorization_code'];
    if (!Array.isArray(grants) || grants.some((g) => !GRANT_TYPES.includes(g as string)))
      throw new OAuthError('invalid_client_metadata', `grant_types may hold ${GRANT_TYPES.join(' and ')}.`);
    const responses = meta.response_types ?? ['code'];
    if (!Array.isArray(responses) || responses.some((r) => r !== 'code'))
      throw new OAuthError('invalid_client_metadata', 'response_types must be ["code"].');
    // A client's name becomes part of its keys' names (`<client> sign-in`): the key-name rule, cut rather than refused
    // for its length.
    const name = typeof meta.client_name === 'string' && meta.client_name.trim() ? fitKeyName(meta.client_name) : 'unnamed client';
    if (keyNameProblem(name)) throw new OAuthError('invalid_client_metadata', 'client_name may not contain control characters.');
    const now = this.deps.clock.now();
    await this.deps.throttles.clientRegistration(address, now);
    const client: OAuthClient = {
      clientId: `mcp_${randomBytes(16).toString('base64url')}`,
      name,
      redirectUris: uris as string[],
      grantTypes: grants as string[],
      createdAt: now,
      createdIp: address,
      revokedAt: null,
    };
    await this.deps.store.insertClient(client);
    return client;
  }

  /**
   * The client a sign-in from `address` names: registered, a metadata document, or null for a free-text name
   * (loopback only). Throws an OAuthError for a client that cannot be used, a 429 KeywardError when fetching its
   * document would pass a throttle.
   */
  async find(clientId: string | undefined | null, address: string): Promise<KnownClient | null> {
    if (!clientId) return null;
    if (clientId.startsWith('https://')) return this.#document(clientId, address);
    if (!clientId.startsWith('mcp_')) return null;
    const c = await this.deps.store.findClient(clientId);
    if (!c || c.revokedAt !== null)
      throw new OAuthError('invalid_request', 'client_id is not a registered client (or its registration was revoked).');
    return { clientId: c.clientId, name: c.name, redirectUris: c.redirectUris, kind: 'registered' };
  }

  /** A Client ID Metadata Document: fetched once per 5 minutes, and only from where the SSRF guard allows. */
  async #document(url: string, address: string): Promise<KnownClient> {
    const now = this.deps.clock.now();
    const known = this.#known(url, now);
    if (known) return known;
    await this.deps.throttles.metadataDocument(address, now);
    // From here to `set` nothing is awaited, so the in-flight cap and the one fetch per URL hold however many
    // sign-ins passed the throttle at once (with Redis its charge is a round trip).
    const since = this.#known(url, now);
    if (since) return since;
    if (this.#fetching.size >= CIMD_IN_FLIGHT)
      throw tooMany('Too many client metadata documents are being fetched right now. Try again in a moment.', 1000, now);
    const fetching = this.#fetchDocument(url).then(
      (client) => this.#remember(url, client, now),
      (error: unknown) => {
        this.#remember(url, null, now);
        throw error;
      },
    );
    this.#fetching.set(url, fetching);
    try {
      return await fetching;
    } finally {
      this.#fetching.delete(url);
    }
  }

  /** The document's client when it is cached or being fetched (a fetch under way is shared); a cached failure throws. */
  #known(url: string, now: number): KnownClient | Promise<KnownClient> | undefined {
    const cached = this.#documents.get(url);
    if (cached && cached.until > now) {
      if (!cached.client) throw new OAuthError('invalid_request', 'client_id names a metadata document that could not be used.');
      return cached.client;
    }
    return this.#fetching.get(url);
  }

  #remember<T extends KnownClient | null>(url: string, client: T, now: number): T {
    if (this.#documents.size > 1000) this.#documents.clear();
    this.#documents.set(url, { client, until: now + CIMD_CACHE_MS });
    return client;
  }

  async #fetchDocument(url: string): Promise<KnownClient> {
    const refuse = (why: string) => new OAuthError('invalid_request', `client_id metadata document: ${why}`);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw refuse('not a URL');
    }
    if (u.protocol !== 'https:' || u.hash || u.username || u.password || u.pathname === '/')
      throw refuse('must be an https URL with a path');
    let text: string;
    try {
      const res = await fetchOutbound(url, {
        headers: { accept: 'application/json', 'user-agent': 'keyward-clients/1' },
        maxBytes: CIMD_MAX_BYTES,
        timeoutMs: CIMD_TIMEOUT_MS,
        namedBy: 'user',
        allowPrivate: this.deps.allowPrivateDocuments,
      });
      if (res.status < 200 || res.status > 299) throw refuse(`answered ${res.status}`);
      text = res.body.toString('utf8');
    } catch (error) {
      if (error instanceof OAuthError) throw error;
      if (error instanceof OutboundError) {
        if (error.reason === 'too_large') throw refuse('larger than 5 KB');
        if (error.reason === 'refused_target' || error.reason === 'bad_url' || error.reason === 'unresolved') throw refuse(error.message);
        throw refuse(`could not be fetched (${error.message})`);
      }
      throw error;
    }
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw refuse('not JSON');
    }
    if (doc.client_id !== url) throw refuse('its client_id is not its own URL');
    const uris = doc.redirect_uris;
    if (!Array.isArray(uris) || uris.length === 0 || uris.some((r) => redirectUriProblem(r) !== null))
      throw refuse('redirect_uris missing or not allowed');
    if ((doc.token_endpoint_auth_method ?? 'none') !== 'none') throw refuse('only public clients (token_endpoint_auth_method none)');
    // Someone else's label, kept as text as an imported key's name is, rather than refusing the client for it.
    const named = typeof doc.client_name === 'string' ? importedKeyName(doc.client_name) : '';
    const name = named || u.hostname;
    return { clientId: url, name, redirectUris: uris as string[], kind: 'metadata-document' };
  }

  list(page: { limit: number; after?: { at: number; id: string } }) {
    return this.deps.store.listClients(page);
  }

  revoke(clientId: string) {
    return this.deps.store.revokeClient(clientId, this.deps.clock.now());
  }
}
