import type { ConnectionEntry } from '../../../http/wire';
import type { ManagementApi } from '../api';
import { byId, el } from '../dom';
import { localTime } from '../format';
import type { LiveStream } from '../live';
import { DeviceListLoader } from './device-list-loader';

/** As many entries as the emulator keeps per device. */
const maxEntries = 100;

/** When the device connected (and how) and when its connection ended (and why), newest first. */
export class ConnectionsView {
  readonly #list = byId('connections');
  readonly #status = byId('connections-status');
  readonly #empty = byId('connections-empty');
  readonly #loader = new DeviceListLoader(this.#status, 'connection history', {
    fetch: (id) => this.api.connections(id),
    reset: () => this.#reset(),
    show: (items) => this.#show(items),
  });

  constructor(
    private readonly api: ManagementApi,
    live: LiveStream,
  ) {
    const onEntry = ({ device, entry }: { device: { deviceId: string }; entry: ConnectionEntry }) => {
      if (device.deviceId === this.#loader.deviceId) this.#add(entry);
    };
    live.on('device.connected', onEntry);
    live.on('device.disconnected', onEntry);
  }

  open(deviceId: string): void {
    void this.#loader.open(deviceId);
  }

  load(): Promise<void> {
    return this.#loader.load();
  }

  #reset(): void {
    this.#list.replaceChildren();
    this.#refresh();
  }

  #show(entries: Awaited<ReturnType<ManagementApi['connections']>>): void {
    for (const entry of entries) this.#add(entry);
  }

  #add(entry: ConnectionEntry): void {
    const time = new Date(entry.at);
    this.#list.prepend(
      el(
        'li',
        { test: 'connection', data: { event: entry.event } },
        el('time', {
          text: time.toLocaleString(),
          title: localTime(entry.at),
          attrs: { datetime: entry.at },
        }),
        el('span', {
          class: `event ${entry.event}`,
          text: entry.event === 'connected' ? 'Connected' : 'Disconnected',
        }),
        el('span', { class: 'reason', text: entry.reason, test: 'connection-reason' }),
      ),
    );
    while (this.#list.childElementCount > maxEntries) this.#list.lastElementChild?.remove();
    this.#refresh();
  }

  #refresh(): void {
    this.#empty.hidden = this.#list.childElementCount !== 0;
  }
}
