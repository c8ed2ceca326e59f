/** What a dashboard form post left behind, for its one-time token: where its result is, and a secret to show once. */
export interface FormResult {
  location: string | null;
}

/**
 * One-time dashboard forms: each post carries a token that acts once, so that a post sent again (a double click, a
 * reload) is shown the first one's result instead of acting twice.
 */
export interface FormStore {
  /**
   * Claims a dashboard form's one-time token for a session. True the first time; false when it was claimed before
   * (the same post sent again), in which case {@link FormStore.formResult} says where its result is.
   */
  claimForm(id: string, sessionId: string, expiresAt: number): Promise<boolean>;
  /** Where the first post of a form token led, once it has acted (null while it is still acting or it failed). */
  formResult(id: string, sessionId: string): Promise<FormResult | undefined>;
  /** Records what a claimed form did: where its result is, and a sealed secret to show once (or null). */
  completeForm(id: string, location: string, sealedSecret: string | null): Promise<void>;
  /** Gives up a claim whose action failed, so that the form can be sent again. */
  releaseForm(id: string): Promise<void>;
  /** The sealed secret of a form's result, once: it is erased as it is read. */
  takeFormSecret(id: string, sessionId: string): Promise<string | null>;
  /** Deletes form tokens that have expired. */
  pruneExpiredForms(now: number): Promise<void>;
}
