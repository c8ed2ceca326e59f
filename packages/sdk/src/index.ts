export { type ClientOptions, createClient, type KeywardClient } from './client.js';
export { ForbiddenError, KeywardApiError, RateLimitedError, UnauthorizedError } from './errors.js';
export { type FindKeyOptions, findKey } from './find-key.js';
export { startCallbackServer } from './login/callback-server.js';
export { LoginError, type LoginOptions, login } from './login/login.js';
export { newPkce } from './login/pkce.js';
export { accountFor, type Profile, Profiles } from './profiles.js';
export { keywardProvider, neverminedProvider, type Provider, providerNamed } from './providers.js';
export { osSecretStore, type SecretStore, SecretStoreUnavailableError } from './secret-store.js';
