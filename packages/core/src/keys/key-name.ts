/**
 * A key's name is free text people read in lists, logs and shell output ("Dana's laptop", `CI; nightly`): stored
 * and shown verbatim, escaped where it is output (HTML, CSV). Refused are only characters that are not text at all:
 * control characters (C0, DEL, C1), line and paragraph separators, and the bidirectional overrides that make a
 * label read differently from what it holds. An OAuth client's name, which becomes part of its keys' names, follows
 * the same rule.
 */
const NOT_TEXT = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
export const KEY_NAME_MAX = 100;
export const KEY_NAME_RULE = 'name may not contain control characters, line separators or bidirectional overrides';

/** What is wrong with a (trimmed) key name, or null when nothing is. Length counts characters, not UTF-16 units. */
export function keyNameProblem(name: string): string | null {
  if (name.length === 0) return 'name must not be empty';
  if ([...name].length > KEY_NAME_MAX) return `name must be at most ${KEY_NAME_MAX} characters`;
  return NOT_TEXT.test(name) ? KEY_NAME_RULE : null;
}

/**
 * Text made the length of a key name: trimmed, then at most {@link KEY_NAME_MAX} characters, cut between two
 * characters (never inside a surrogate pair, as `slice(0, 100)` would). What is not text is left for
 * {@link keyNameProblem} to refuse; {@link importedKeyName} replaces it instead.
 *
 * @example
 * fitKeyName(`${clientName} sign-in`); // at most 100 characters
 */
export function fitKeyName(text: string): string {
  const trimmed = text.trim();
  if (trimmed.length <= KEY_NAME_MAX) return trimmed;
  return [...trimmed].slice(0, KEY_NAME_MAX).join('').trim();
}

/**
 * A name another product stored, made one keyward keeps: what is not text becomes a space, then at most
 * {@link KEY_NAME_MAX} characters (an import keeps the key rather than refuse it for its label).
 */
export function importedKeyName(name: string): string {
  return fitKeyName(name.replace(new RegExp(NOT_TEXT.source, 'gu'), ' '));
}
