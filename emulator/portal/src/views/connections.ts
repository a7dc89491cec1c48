import type { ConnectionEntry } from '../../../http/wire';
import { describeError, type ManagementApi } from '../api';
import { byId, el, say } from '../dom';
import { localTime } from '../format';
import type { LiveStream } from '../live';

/** As many entries as the emulator keeps per device. */
const maxEntries = 100;

/** When the device connected (and how) and when its connection ended (and why), newest first. */
export class ConnectionsView {
  readonly #list = byId('connections');
  readonly #status = byId('connections-status');
  readonly #empty = byId('connections-empty');
  #deviceId: string | undefined;
  #generation = 0;

  constructor(
    private readonly api: ManagementApi,
    live: LiveStream,
  ) {
    const onEntry = ({ device, entry }: { device: { deviceId: string }; entry: ConnectionEntry }) => {
      if (device.deviceId === this.#deviceId) this.#add(entry);
    };
    live.on('device.connected', onEntry);
    live.on('device.disconnected', onEntry);
  }

  open(deviceId: string): void {
    this.#deviceId = deviceId;
    void this.load();
  }

  async load(): Promise<void> {
    const deviceId = this.#deviceId;
    if (deviceId === undefined) return;
    const generation = ++this.#generation;
    this.#list.replaceChildren();
    this.#refresh();
    try {
      const entries = await this.api.connections(deviceId);
      if (generation !== this.#generation) return;
      say(this.#status, '');
      for (const entry of entries) this.#add(entry);
    } catch (error) {
      if (generation === this.#generation) {
        say(this.#status, `Could not load the connection history: ${describeError(error)}`, 'error');
      }
    }
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
