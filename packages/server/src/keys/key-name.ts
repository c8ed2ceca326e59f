/**
 * A key's name is a label people read in lists, logs, CSV exports and shell output, so it may hold any printable
 * text except quotes, semicolons, backslashes and backticks: the characters that turn a pasted label into code.
 */
const FORBIDDEN = /[\u0000-\u001f\u007f'"`;\\]/;
export const KEY_NAME_MAX = 100;
export const KEY_NAME_RULE = 'name may not contain quotes, semicolons, backslashes, backticks or control characters';

/** What is wrong with a (trimmed) key name, or null when nothing is. */
export function keyNameProblem(name: string): string | null {
  if (name.length === 0) return 'name must not be empty';
  if (name.length > KEY_NAME_MAX) return `name must be at most ${KEY_NAME_MAX} characters`;
  return FORBIDDEN.test(name) ? KEY_NAME_RULE : null;
}
