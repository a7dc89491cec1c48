import type { BatchView } from '../../../http/wire';
import type { ManagementApi } from '../api';
import { byId, el } from '../dom';
import { clock, localTime } from '../format';
import type { LiveStream } from '../live';
import { DeviceListLoader } from './device-list-loader';
import { type MessagesView, payloadPreview, type ShownMessage } from './messages';

/** Most batches listed (the newest). */
const maxBatches = 100;

interface Row {
  batch: BatchView;
  item: HTMLLIElement;
  details: HTMLDetailsElement;
  count: HTMLSpanElement;
  state: HTMLSpanElement;
  messages: HTMLUListElement;
}

const keyOf = (b: { streamGroup: string | null; stream: string | null; batchId: string | null }) =>
  JSON.stringify([b.streamGroup ?? '', b.stream ?? '', b.batchId ?? '']);

/** The device's batches, newest first: how many messages each holds and whether the device completed it. */
export class BatchesView {
  readonly #list = byId('batches');
  readonly #status = byId('batches-status');
  readonly #empty = byId('batches-empty');
  readonly #rows = new Map<string, Row>();
  readonly #loader = new DeviceListLoader(this.#status, 'batches', {
    fetch: (id) => this.api.batches(id),
    reset: () => this.#reset(),
    show: (items) => this.#show(items),
  });

  constructor(
    private readonly api: ManagementApi,
    live: LiveStream,
    private readonly messages: MessagesView,
  ) {
    live.on('message.received', ({ deviceId, batch }) => {
      if (deviceId === this.#loader.deviceId && batch) this.#upsert(batch, true);
    });
    messages.onMessage((message) => {
      const row = this.#rows.get(keyOf(message));
      if (row?.details.open) this.#fill(row);
    });
  }

  open(deviceId: string): void {
    void this.#loader.open(deviceId);
  }

  load(): Promise<void> {
    return this.#loader.load();
  }

  #reset(): void {
    this.#rows.clear();
    this.#list.replaceChildren();
    this.#refresh();
  }

  #show(batches: Awaited<ReturnType<ManagementApi['batches']>>): void {
    for (const batch of batches.slice(-maxBatches)) this.#upsert(batch, true);
  }

  #upsert(batch: BatchView, toTop: boolean): void {
    const key = keyOf(batch);
    let row = this.#rows.get(key);
    if (!row) {
      row = this.#row(batch);
      this.#rows.set(key, row);
      if (toTop) this.#list.prepend(row.item);
      else this.#list.append(row.item);
      while (this.#rows.size > maxBatches) {
        const oldest = this.#list.lastElementChild;
        const oldestKey = [...this.#rows].find(([, r]) => r.item === oldest)?.[0];
        oldest?.remove();
        if (oldestKey !== undefined) this.#rows.delete(oldestKey);
        else break;
      }
    }
    row.batch = batch;
    this.#paint(row);
    this.#refresh();
  }

  #row(batch: BatchView): Row {
    const count = el('span', { class: 'muted', test: 'batch-count' });
    const state = el('span', { class: 'badge', test: 'batch-state' });
    const messages = el('ul', { class: 'batch-messages', test: 'batch-messages' });
    const details = el(
      'details',
      {},
      el(
        'summary',
        {},
        el('span', { class: 'id', text: batch.stream, title: `stream group ${batch.streamGroup}` }),
        el('span', { class: 'id muted', text: batch.batchId, title: 'batch id' }),
        count,
        state,
      ),
      messages,
    );
    details.addEventListener('toggle', () => {
      if (details.open) this.#fill(row);
    });
    const item = el('li', { test: 'batch', data: { batchId: batch.batchId, stream: batch.stream } }, details);
    const row: Row = { batch, item, details, count, state, messages };
    return row;
  }

  #paint(row: Row): void {
    const { batch } = row;
    const complete = batch.completedAt !== null;
    row.item.dataset.complete = String(complete);
    row.item.dataset.messageCount = String(batch.messageCount);
    row.count.textContent = `${batch.messageCount} message${batch.messageCount === 1 ? '' : 's'}`;
    row.state.className = `badge ${complete ? 'complete' : 'open'}`;
    row.state.textContent = complete && batch.completedAt ? `complete ${clock(batch.completedAt)}` : 'open';
    row.state.title = complete
      ? `completed ${localTime(batch.completedAt)}`
      : 'the device has not completed it yet';
  }

  /** Lists the batch's messages the page holds (the newest of the device). */
  #fill(row: Row): void {
    const { streamGroup, stream, batchId } = row.batch;
    const messages = this.messages.messagesOfBatch(streamGroup, stream, batchId);
    row.messages.replaceChildren(
      ...(messages.length
        ? messages.map((message) => this.#messageItem(message))
        : [el('li', { class: 'muted', text: 'None of its messages is among the newest shown above.' })]),
    );
  }

  #messageItem(message: ShownMessage): HTMLLIElement {
    const preview = payloadPreview(message);
    return el('li', {
      test: 'batch-message',
      data: { sequence: String(message.sequence) },
      text: `#${message.sequence}  ${preview}`,
      title: preview,
    });
  }

  #refresh(): void {
    this.#empty.hidden = this.#rows.size !== 0;
  }
}
