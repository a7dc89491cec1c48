import type { CloudMessageView, LiveEvents } from '../../../http/wire';
import { describeError, type ManagementApi } from '../api';
import { byId, el, say } from '../dom';
import { base64Bytes, clock, localTime, payloadText } from '../format';
import type { LiveStream } from '../live';

/** Most sent messages listed (queued ones always fit: IoT Hub queues at most 50). */
const maxListed = 60;

/** Properties from `key=value` lines, or which line is wrong. */
export function parseProperties(text: string): { properties: URLSearchParams } | { error: string } {
  const properties = new URLSearchParams();
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return { error: `Property line ${index + 1} is not key=value: ${line}` };
    properties.append(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return { properties };
}

interface Row {
  item: HTMLLIElement;
  state: HTMLSpanElement;
  /** Delivered or dropped: no longer in the device's queue. */
  settled: boolean;
}

const dropReasons: Record<LiveEvents['c2d.dropped']['reason'], string> = {
  expired: 'expired',
  'delivery count exceeded': 'written 10× unacknowledged',
};

/**
 * The cloud-to-device form, and the messages sent to the device: queued until it takes them, then delivered, or
 * dropped by the hub (expired, or written 10 times unacknowledged).
 */
export class CloudMessagesView {
  readonly #form = byId('c2d-form', HTMLFormElement);
  readonly #result = byId('c2d-result');
  readonly #list = byId('c2d-list');
  readonly #listStatus = byId('c2d-list-status');
  readonly #empty = byId('c2d-empty');
  readonly #rows: Row[] = [];
  #deviceId: string | undefined;
  #generation = 0;

  constructor(
    private readonly api: ManagementApi,
    live: LiveStream,
    private readonly isConnected: () => boolean,
  ) {
    live.on('c2d.queued', ({ deviceId, message }) => {
      if (deviceId === this.#deviceId) this.#add(message);
    });
    live.on('c2d.delivered', ({ deviceId, mid, deliveredAt }) => {
      if (deviceId === this.#deviceId) this.#settle(mid, 'delivered', `delivered ${clock(deliveredAt)}`);
    });
    // Expired or written too often: the hub will never deliver it, so it must not stay listed as queued.
    live.on('c2d.dropped', ({ deviceId, mid, reason, droppedAt }) => {
      if (deviceId !== this.#deviceId) return;
      this.#settle(mid, 'dropped', `dropped ${clock(droppedAt)} · ${dropReasons[reason] ?? reason}`);
    });
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#submit();
    });
  }

  open(deviceId: string): void {
    this.#deviceId = deviceId;
    say(this.#result, '');
    void this.load();
  }

  /** Loads the messages still waiting for the device. */
  async load(): Promise<void> {
    const deviceId = this.#deviceId;
    if (deviceId === undefined) return;
    const generation = ++this.#generation;
    this.#rows.length = 0;
    this.#list.replaceChildren();
    this.#refresh();
    try {
      const queued = await this.api.cloudMessages(deviceId);
      if (generation !== this.#generation) return;
      say(this.#listStatus, '');
      for (const message of queued) this.#add(message);
    } catch (error) {
      if (generation === this.#generation) {
        say(this.#listStatus, `Could not load the queued messages: ${describeError(error)}`, 'error');
      }
    }
  }

  #add(message: CloudMessageView): void {
    if (this.#queued(message.mid)) return;
    const decoded = payloadText(
      base64Bytes(message.payloadBase64, 4096),
      message.payloadBase64.length > 5464,
    );
    const state = el('span', { class: 'badge queued', text: 'queued', test: 'c2d-message-state' });
    const properties = Object.entries(message.properties);
    const item = el(
      'li',
      {
        test: 'c2d-message',
        data: {
          mid: message.mid,
          state: 'queued',
          expiresAt: message.expiresAt,
          deliveryCount: String(message.deliveryCount),
        },
      },
      el(
        'div',
        { class: 'head' },
        state,
        el('span', { class: 'mid', text: `mid ${message.mid}` }),
        el('time', {
          class: 'mid',
          text: clock(message.enqueuedAt),
          title: localTime(message.enqueuedAt),
          attrs: { datetime: message.enqueuedAt },
        }),
        el('time', {
          class: 'mid',
          text: `expires ${clock(message.expiresAt)}`,
          title: localTime(message.expiresAt),
          test: 'c2d-message-expiry',
          attrs: { datetime: message.expiresAt },
        }),
        // Written to the device before, never acknowledged: it comes again, and is dropped at the 10th write.
        message.deliveryCount > 0
          ? el('span', {
              class: 'mid',
              text: `written ${message.deliveryCount}× unacknowledged`,
              test: 'c2d-message-deliveries',
            })
          : null,
      ),
      el('span', {
        class: 'body',
        text: decoded.text === '' ? '(empty body)' : decoded.text,
        test: 'c2d-message-body',
      }),
      properties.length
        ? el(
            'dl',
            { class: 'props', test: 'c2d-message-properties' },
            ...properties.flatMap(([key, value]) => [el('dt', { text: key }), el('dd', { text: value })]),
          )
        : null,
    );
    this.#rows.unshift({ item, state, settled: false });
    this.#list.prepend(item);
    while (this.#rows.length > maxListed) this.#rows.pop()?.item.remove();
    this.#refresh();
  }

  async #submit(): Promise<void> {
    const deviceId = this.#deviceId;
    if (deviceId === undefined) return;
    const parsed = parseProperties(byId('c2d-props', HTMLTextAreaElement).value);
    if ('error' in parsed) {
      say(this.#result, parsed.error, 'error');
      return;
    }
    const button = this.#form.querySelector('button');
    if (button) button.disabled = true;
    say(this.#result, 'Sending…', 'busy');
    try {
      const sent = await this.api.sendCloudMessage(
        deviceId,
        byId('c2d-body', HTMLTextAreaElement).value,
        parsed.properties,
      );
      if (deviceId !== this.#deviceId) return;
      say(
        this.#result,
        this.isConnected()
          ? `Sent (mid ${sent.mid}); it shows as delivered once the device takes it.`
          : `Queued (mid ${sent.mid}) until the device connects.`,
        'ok',
      );
    } catch (error) {
      if (deviceId === this.#deviceId) say(this.#result, describeError(error), 'error');
    } finally {
      if (button) button.disabled = false;
    }
  }

  #queued(mid: string): Row | undefined {
    return this.#rows.find((r) => !r.settled && r.item.dataset.mid === mid);
  }

  /** Marks the queued message `mid` as no longer waiting: `state` is its `data-state` and badge. */
  #settle(mid: string, state: 'delivered' | 'dropped', text: string): void {
    const row = this.#queued(mid);
    if (!row) return;
    row.settled = true;
    row.item.dataset.state = state;
    row.state.className = `badge ${state}`;
    row.state.textContent = text;
  }

  #refresh(): void {
    this.#empty.hidden = this.#rows.length !== 0;
  }
}
