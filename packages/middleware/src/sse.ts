/** One Server-Sent Event as the HTML standard's parser dispatches it. */
export interface SseEvent {
  event: string;
  data: string;
  /** The `id:` field, when the event carried one. */
  id?: string;
}

/**
 * A streaming parser of `text/event-stream` (the HTML standard's rules, minus `retry:` which the caller's backoff
 * replaces): feed it text as it comes, in any pieces; it calls `onEvent` for each complete event. Comment lines
 * (`: keep-alive`) are skipped.
 *
 * @example
 * ```ts
 * const parser = new SseParser((e) => console.log(e.event, e.data));
 * parser.push('event: change\ndata: {"type":"key"}\n\n');
 * ```
 */
export class SseParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #id: string | undefined;

  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  push(text: string): void {
    this.#buffer += text;
    let start = 0;
    for (;;) {
      const nl = this.#buffer.indexOf('\n', start);
      if (nl < 0) break;
      let line = this.#buffer.slice(start, nl);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      start = nl + 1;
      this.#line(line);
    }
    this.#buffer = this.#buffer.slice(start);
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0 || this.#event !== '') {
        this.onEvent({ event: this.#event || 'message', data: this.#data.join('\n'), ...(this.#id !== undefined ? { id: this.#id } : {}) });
      }
      this.#event = '';
      this.#data = [];
      this.#id = undefined;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
  }
}
