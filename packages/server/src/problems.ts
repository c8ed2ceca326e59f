import type { z } from 'zod';

/**
 * Validation problems in a person's words, for the API's 400s and the config file's errors alike: the field as the
 * person wrote it (`entry 2 of ip_allowlist`, not `ip_allowlist.1`), what it must be (`one of read, agentic, write
 * or admin`, not `Invalid option: expected one of "read"|…`), and for a misspelt name the one it was probably meant
 * to be.
 */

type Issue = z.core.$ZodIssue;

/** `a, b or c`. */
export function inWords(values: readonly unknown[], last = 'or'): string {
  const words = values.map(String);
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} ${last} ${words.at(-1)}`;
}

/** Where a problem is: `scope`, `entry 2 of ip_allowlist`, `plans.free.requests_per_minute`. */
export function fieldOf(path: readonly PropertyKey[]): string {
  const names: string[] = [];
  let entry: number | null = null;
  for (const part of path) {
    if (typeof part === 'number') entry = part;
    else names.push(String(part));
  }
  const field = names.join('.');
  if (entry === null) return field;
  return field ? `entry ${entry + 1} of ${field}` : `entry ${entry + 1}`;
}

/** What is wrong with the value, as a predicate of its field: `must be at least 8 characters long`. */
export function predicateOf(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${JSON.stringify(issue.values[0])}` : `must be one of ${inWords(issue.values)}`;
    case 'invalid_type':
      return `must be ${issue.expected === 'object' ? 'a JSON object' : issue.expected}`;
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const n = Number(small ? issue.minimum : issue.maximum);
      const strict = issue.inclusive === false;
      const bound = small ? (strict ? 'more than' : 'at least') : strict ? 'less than' : 'at most';
      if (issue.origin === 'string') return `must be ${bound} ${n} character${n === 1 ? '' : 's'} long`;
      if (issue.origin === 'array' || issue.origin === 'set') return `must have ${bound} ${n} entr${n === 1 ? 'y' : 'ies'}`;
      if (small && strict && n === 0) return 'must be a positive number';
      return `must be ${bound} ${n}`;
    }
    case 'invalid_format':
      return issue.format === 'regex' ? 'is not in the expected form' : `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return Number(issue.divisor) === 1 ? 'must be a whole number' : `must be a multiple of ${issue.divisor}`;
    default:
      // Our own refinements are written as predicates ("must be an IPv4 or IPv6 address …").
      return /^(must|is|are|has|cannot|may)\b/.test(issue.message) ? issue.message : `is not valid: ${issue.message}`;
  }
}

/** One problem as a sentence: `Entry 1 of ip_allowlist must be an IPv4 or IPv6 address or CIDR, e.g. 10.0.0.0/8.` */
export function sentenceOf(issue: Issue, whole: string): string {
  const field = fieldOf(issue.path);
  const text = `${field || whole} ${predicateOf(issue)}`.replace(/^entry/, 'Entry');
  return /[.!?)]$/.test(text) ? text : `${text}.`;
}

/** The known name closest to a misspelt one (an edit or two away, or the same letters swapped), if any. */
export function closestName(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of two neighbours. */
function distance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (rows[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    const up = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** The field names a zod schema accepts at a path (through optional, nullable, default, record and array). */
export function namesAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let at: unknown = schema;
  const step = (s: unknown): unknown => {
    const def = (s as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    if (!def) return undefined;
    if (['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional'].includes(def.type as string))
      return step(def.innerType);
    if (def.type === 'pipe') return step(def.in);
    return s;
  };
  at = step(at);
  for (const part of path) {
    const def = (at as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
    if (!def) return [];
    if (def.type === 'object') at = step((def.shape as Record<string, unknown>)[String(part)]);
    else if (def.type === 'record') at = step(def.valueType);
    else if (def.type === 'array') at = step(def.element);
    else return [];
  }
  const def = (at as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape as Record<string, unknown>) : [];
}
