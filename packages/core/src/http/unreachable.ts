/** Why a connection failed, in words: `fetch` says only "fetch failed" and keeps the reason in `cause`. */
const REASONS: Record<string, string> = {
  ECONNREFUSED: 'nothing is listening there',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be looked up',
  ETIMEDOUT: 'it did not answer in time',
  UND_ERR_CONNECT_TIMEOUT: 'it did not answer in time',
  ECONNRESET: 'the connection was cut',
  EHOSTUNREACH: 'the host is unreachable',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
};

/**
 * A `fetch` that says which server it could not reach and why, instead of "fetch failed": `cannot reach
 * http://127.0.0.1:8787 (nothing is listening there). Is the server running, and is the URL right?`.
 */
export function explainingFetch(doFetch: typeof fetch = fetch, hint = 'Is the server running, and is the URL right?'): typeof fetch {
  return async (input, init) => {
    try {
      return await doFetch(input, init);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      const url = input instanceof Request ? input.url : String(input);
      let origin = url;
      try {
        origin = new URL(url).origin;
      } catch {}
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = (cause?.code && REASONS[cause.code]) ?? cause?.code ?? cause?.message ?? error.message;
      throw new Error(`cannot reach ${origin} (${reason}). ${hint}`, { cause: error });
    }
  };
}
