import type { LiveMessageView, MessageView } from '../../../http/wire';
import { describeError, type ManagementApi } from '../api';
import { byId, el, say } from '../dom';
import {
  base64Bytes,
  base64Length,
  bytesLabel,
  clock,
  localTime,
  maybePretty,
  oneLine,
  payloadText,
} from '../format';
import type { LiveStream } from '../live';

/** A message as the page holds it: from the list route (whole payload) or a live event (maybe cut short). */
export type ShownMessage = MessageView & Partial<Pick<LiveMessageView, 'payloadBytes' | 'payloadTruncated'>>;

/** Most messages the page keeps (and shows) per device. */
export const maxShownMessages = 500;
/** How many of the newest messages a device's view starts with. */
const initialMessages = 200;
const previewBytes = 1024;
const previewChars = 300;
const detailBytes = 256 * 1024;

export function payloadSize(message: ShownMessage): number {
  return message.payloadBytes ?? base64Length(message.payloadBase64);
}

/** The start of the payload as one line of text (or hex for binary payloads). */
export function payloadPreview(message: ShownMessage): string {
  const size = payloadSize(message);
  if (size === 0) return '(empty)';
  const decoded = payloadText(base64Bytes(message.payloadBase64, previewBytes), size > previewBytes);
  return (decoded.binary ? 'binary: ' : '') + oneLine(decoded.text).slice(0, previewChars);
}

/** The selected device's messages, newest first, as they arrive; a click shows one in full. */
export class MessagesView {
  readonly #body = byId('messages-body');
  readonly #status = byId('messages-status');
  readonly #info = byId('messages-info');
  readonly #empty = byId('messages-empty');
  readonly #filter = byId('stream-filter', HTMLInputElement);
  readonly #streamNames = byId('stream-names');
  readonly #pause = byId('pause', HTMLInputElement);
  readonly #detail = byId('message-detail');
  readonly #messages: ShownMessage[] = [];
  readonly #rows = new Map<number, HTMLTableRowElement>();
  readonly #streams = new Set<string>();
  readonly #listeners = new Set<(message: ShownMessage) => void>();
  #deviceId: string | undefined;
  #generation = 0;
  #received = 0;
  #missed = 0;
  #chosen: HTMLTableRowElement | undefined;

  constructor(
    private readonly api: ManagementApi,
    live: LiveStream,
  ) {
    live.on('message.received', ({ deviceId, message }) => {
      if (deviceId !== this.#deviceId) return;
      this.#noteStream(message.stream);
      if (!this.#matchesFilter(message)) return;
      if (this.#pause.checked) {
        this.#missed++;
        this.#showPaused();
        return;
      }
      this.#add([message], true);
    });
    this.#body.addEventListener('click', (event) => this.#openFrom(event.target));
    this.#body.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      event.preventDefault();
      this.#openFrom(event.target);
    });
    byId('message-detail-close').addEventListener('click', () => this.#closeDetail());
    byId('clear-messages').addEventListener('click', () => {
      this.#clear();
      this.#update();
    });
    this.#pause.addEventListener('change', () => {
      if (!this.#pause.checked && this.#missed > 0) void this.load();
      this.#showPaused();
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#filter.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => void this.load(), 300);
    });
  }

  /** Calls `listener` for each message the view adds (the batches view groups them). */
  onMessage(listener: (message: ShownMessage) => void): void {
    this.#listeners.add(listener);
  }

  /** The messages the page holds that belong to a batch, oldest first. */
  messagesOfBatch(streamGroup: string, stream: string, batchId: string): ShownMessage[] {
    return this.#messages.filter(
      (m) => m.batchId === batchId && (m.stream ?? '') === stream && (m.streamGroup ?? '') === streamGroup,
    );
  }

  open(deviceId: string): void {
    this.#deviceId = deviceId;
    this.#streams.clear();
    this.#streamNames.replaceChildren();
    void this.load();
  }

  /** (Re)loads the newest messages of the device. */
  async load(): Promise<void> {
    const deviceId = this.#deviceId;
    if (deviceId === undefined) return;
    const generation = ++this.#generation;
    this.#clear();
    this.#received = 0;
    this.#missed = 0;
    this.#showPaused();
    say(this.#status, 'Loading…', 'busy');
    try {
      const stream = this.#filter.value.trim();
      const page = await this.api.latestMessages(deviceId, initialMessages, stream || undefined);
      if (generation !== this.#generation) return;
      say(this.#status, '');
      this.#showPaused();
      for (const message of page.items) this.#noteStream(message.stream);
      this.#add(page.items, false);
    } catch (error) {
      if (generation === this.#generation) {
        say(this.#status, `Could not load the messages: ${describeError(error)}`, 'error');
      }
    }
    this.#update();
  }

  #matchesFilter(message: ShownMessage): boolean {
    const stream = this.#filter.value.trim();
    return stream === '' || message.stream === stream;
  }

  #add(messages: ShownMessage[], fresh: boolean): void {
    const rows: HTMLTableRowElement[] = [];
    const added: ShownMessage[] = [];
    for (const message of messages) {
      if (this.#rows.has(message.sequence)) continue;
      const last = this.#messages[this.#messages.length - 1];
      if (last && message.sequence < last.sequence) continue; // older than what is shown: a stale page
      this.#messages.push(message);
      this.#received++;
      const row = this.#row(message, fresh);
      this.#rows.set(message.sequence, row);
      rows.push(row);
      added.push(message);
    }
    this.#body.prepend(...rows.reverse());
    while (this.#messages.length > maxShownMessages) {
      const dropped = this.#messages.shift();
      if (!dropped) break;
      const row = this.#rows.get(dropped.sequence);
      if (row === this.#chosen) this.#closeDetail();
      row?.remove();
      this.#rows.delete(dropped.sequence);
    }
    for (const message of added) for (const listener of this.#listeners) listener(message);
    this.#update();
  }

  #clear(): void {
    this.#messages.length = 0;
    this.#rows.clear();
    this.#body.replaceChildren();
    this.#closeDetail();
  }

  #update(): void {
    const shown = this.#messages.length;
    this.#empty.hidden = shown !== 0;
    const last = this.#messages[shown - 1];
    this.#info.textContent =
      shown === 0
        ? ''
        : `${shown} shown${this.#received > shown ? ` of ${this.#received} received` : ''} · last #${last?.sequence}`;
  }

  #showPaused(): void {
    if (this.#pause.checked) {
      say(
        this.#status,
        this.#missed > 0
          ? `Paused: ${this.#missed} new message${this.#missed === 1 ? '' : 's'} not shown; untick Pause to see them.`
          : 'Paused: new messages are not shown until you untick Pause.',
        'info',
      );
    } else if (this.#status.dataset.state === 'info') {
      say(this.#status, '');
    }
  }

  #noteStream(stream: string | null): void {
    if (stream === null || this.#streams.has(stream)) return;
    this.#streams.add(stream);
    this.#streamNames.append(el('option', { attrs: { value: stream } }));
  }

  #row(message: ShownMessage, fresh: boolean): HTMLTableRowElement {
    const cell = (text: string | number | null, className = '', title?: string) => {
      const value = text === null || text === '' ? null : String(text);
      return el('td', {
        class: `${className}${value === null ? ' none' : ''}`,
        title: title ?? value ?? '',
        text: value ?? '–',
      });
    };
    const stream = [message.streamGroup, message.stream].filter((part) => part).join(' / ');
    const part = message.chunkId ? `${message.messageId ?? '–'} / ${message.chunkId}` : message.messageId;
    const preview = payloadPreview(message);
    const size = payloadSize(message);
    return el(
      'tr',
      {
        class: fresh ? 'fresh' : '',
        test: 'message',
        data: {
          sequence: String(message.sequence),
          stream: message.stream ?? '',
          batchId: message.batchId ?? '',
        },
        attrs: { tabindex: '0' },
      },
      cell(message.sequence, 'num'),
      cell(clock(message.receivedAt), '', localTime(message.receivedAt)),
      cell(stream, 'clip'),
      cell(message.batchId, 'clip'),
      cell(part, 'clip'),
      el(
        'td',
        {},
        message.duplicate ? el('span', { class: 'badge dup', text: 'dup', title: 'duplicate $.mid' }) : null,
      ),
      cell(bytesLabel(size), 'num'),
      el('td', {
        class: size ? 'payload' : 'payload none',
        text: preview,
        title: preview,
        test: 'message-payload',
      }),
    );
  }

  #openFrom(target: EventTarget | null): void {
    const row = target instanceof Element ? target.closest('tr') : null;
    if (!row) return;
    const sequence = Number(row.dataset.sequence);
    const message = this.#messages.find((m) => m.sequence === sequence);
    if (message) void this.#openDetail(row, message);
  }

  async #openDetail(row: HTMLTableRowElement, shown: ShownMessage): Promise<void> {
    this.#chosen?.classList.remove('chosen');
    this.#chosen = row;
    row.classList.add('chosen');
    let message: ShownMessage = shown;
    const payload = byId('message-payload');
    this.#detail.hidden = false;
    if (shown.payloadTruncated && this.#deviceId !== undefined) {
      payload.textContent = 'Loading the whole payload…';
      try {
        message = (await this.api.message(this.#deviceId, shown.sequence)) ?? shown;
      } catch (error) {
        payload.textContent = `Could not load the whole payload: ${describeError(error)}`;
        return;
      }
      if (this.#chosen !== row) return;
    }
    const size = payloadSize(message);
    const truncated = message.payloadTruncated === true || size > detailBytes;
    const decoded = payloadText(base64Bytes(message.payloadBase64, detailBytes), truncated);
    let text = decoded.binary ? decoded.text : maybePretty(decoded.text);
    if (truncated || (decoded.binary && size > 4096)) text += `\n… (${bytesLabel(size)} in total, cut short)`;
    byId('message-detail-title').textContent = [
      `Message #${message.sequence}`,
      message.mid ? `mid ${message.mid}` : '',
      message.siteId ? `site ${message.siteId}` : '',
      `${bytesLabel(size)}${decoded.binary ? ' binary (hex)' : ''}`,
    ]
      .filter(Boolean)
      .join(' · ');
    const props = byId('message-props');
    const entries = Object.entries(message.properties).sort(([a], [b]) => a.localeCompare(b));
    props.replaceChildren(
      ...entries.flatMap(([key, value]) => [el('dt', { text: key }), el('dd', { text: value })]),
    );
    props.hidden = entries.length === 0;
    payload.textContent = size ? text : '(empty payload)';
  }

  #closeDetail(): void {
    this.#chosen?.classList.remove('chosen');
    this.#chosen = undefined;
    this.#detail.hidden = true;
  }
}
