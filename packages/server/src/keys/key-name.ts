/**
 * A key's name is free text people read in lists, logs and shell output ("Dana's laptop", `CI; nightly`): stored
 * and shown verbatim, escaped where it is output (HTML, CSV). Refused are only characters that are not text at all:
 * control characters (C0, DEL, C1), line and paragraph separators, and the bidirectional overrides that make a
 * label read differently from what it holds.
 */
const NOT_TEXT = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
export const KEY_NAME_MAX = 100;
export const KEY_NAME_RULE = 'name may not contain control characters, line separators or bidirectional overrides';

/**
 * A name another product stored, made one keyward keeps: what is not text becomes a space, then at most
 * {@link KEY_NAME_MAX} characters (an import keeps the key rather than refuse it for its label).
 */
export function importedKeyName(name: string): string {
  const text = name.replace(new RegExp(NOT_TEXT.source, 'gu'), ' ').trim();
  return [...text].slice(0, KEY_NAME_MAX).join('').trim();
}

/** What is wrong with a (trimmed) key name, or null when nothing is. Length counts characters, not UTF-16 units. */
export function keyNameProblem(name: string): string | null {
  if (name.length === 0) return 'name must not be empty';
  if ([...name].length > KEY_NAME_MAX) return `name must be at most ${KEY_NAME_MAX} characters`;
  return NOT_TEXT.test(name) ? KEY_NAME_RULE : null;
}
