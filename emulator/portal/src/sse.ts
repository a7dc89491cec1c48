/**
 * An incremental parser of `text/event-stream` (the WHATWG server-sent events format): feed it text as it
 * arrives, in chunks of any size; it calls back once per complete event. Pure, so it is tested in Node.
 */

export interface SseEvent {
  /** The `event:` field, `message` when absent. */
  type: string;
  data: string;
  /** The `id:` field of this event, if it had one. */
  id?: string;
}

export class SseParser {
  #buffer = '';
  #type = '';
  #data: string[] = [];
  #id: string | undefined;
  #sawCarriageReturn = false;

  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  push(chunk: string): void {
    let text = chunk;
    // A CRLF split across chunks: the LF was already taken as the end of the line.
    if (this.#sawCarriageReturn && text.startsWith('\n')) text = text.slice(1);
    this.#sawCarriageReturn = false;
    this.#buffer += text;
    for (;;) {
      const end = this.#buffer.search(/[\r\n]/);
      if (end < 0) return;
      const line = this.#buffer.slice(0, end);
      let next = end + 1;
      if (this.#buffer[end] === '\r') {
        if (next === this.#buffer.length) this.#sawCarriageReturn = true;
        else if (this.#buffer[next] === '\n') next++;
      }
      this.#buffer = this.#buffer.slice(next);
      this.#line(line);
    }
  }

  #line(line: string): void {
    if (line === '') {
      this.#dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#type = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
  }

  #dispatch(): void {
    const id = this.#id;
    const type = this.#type || 'message';
    const hadData = this.#data.length > 0;
    const data = this.#data.join('\n');
    this.#type = '';
    this.#data = [];
    this.#id = undefined;
    if (!hadData && id === undefined && type === 'message') return;
    this.onEvent(id === undefined ? { type, data } : { type, data, id });
  }
}
