import type { DeviceView } from '../../../http/wire';
import { describeError, type ManagementApi } from '../api';
import { byId, el, placeAt, say } from '../dom';
import { ago, localTime } from '../format';
import type { LiveStream } from '../live';

interface Row {
  device: DeviceView;
  item: HTMLLIElement;
  button: HTMLButtonElement;
  dot: HTMLSpanElement;
  state: HTMLSpanElement;
}

/** The connection state of a device in words. */
export function connectionText(device: DeviceView | undefined): string {
  if (!device) return 'not registered in this workspace';
  if (device.connected) return 'connected';
  return device.lastSeen ? `offline · last seen ${ago(device.lastSeen)}` : 'offline · never seen';
}

/** Registered devices with their connection state; a click selects one. */
export class DevicesView {
  readonly #rows = new Map<string, Row>();
  readonly #list = byId('devices');
  readonly #status = byId('devices-status');
  readonly #count = byId('devices-count');
  readonly #empty = byId('devices-empty');
  #selected: string | undefined;

  constructor(
    private readonly api: ManagementApi,
    live: LiveStream,
    private readonly onSelect: (deviceId: string) => void,
    private readonly onChange: (device: DeviceView) => void,
  ) {
    live.on('device.registered', (device) => this.upsert(device));
    live.on('device.connected', ({ device }) => this.upsert(device));
    live.on('device.disconnected', ({ device }) => this.upsert(device));
  }

  get(deviceId: string): DeviceView | undefined {
    return this.#rows.get(deviceId)?.device;
  }

  /** Loads the list; false when it could not. */
  async load(): Promise<boolean> {
    let devices: DeviceView[];
    try {
      devices = await this.api.devices();
    } catch (error) {
      say(this.#status, `Could not load the devices: ${describeError(error)}`, 'error');
      return false;
    }
    say(this.#status, '');
    const seen = new Set(devices.map((device) => device.deviceId));
    for (const [id, row] of this.#rows) {
      if (!seen.has(id)) {
        row.item.remove();
        this.#rows.delete(id);
      }
    }
    for (const device of devices) this.upsert(device);
    return true;
  }

  upsert(device: DeviceView): void {
    let row = this.#rows.get(device.deviceId);
    if (!row) {
      row = this.#row(device);
      this.#rows.set(device.deviceId, row);
      const ids = [...this.#rows.keys()].sort((a, b) => a.localeCompare(b));
      placeAt(this.#list, row.item, ids.indexOf(device.deviceId));
    }
    row.device = device;
    this.#paint(row);
    this.#count.textContent = String(this.#rows.size);
    this.#empty.hidden = this.#rows.size !== 0;
    this.onChange(device);
  }

  /** Marks the selected device. */
  select(deviceId: string | undefined): void {
    this.#selected = deviceId;
    for (const row of this.#rows.values()) this.#paint(row);
  }

  /** Updates the "last seen" times (every second). */
  tick(): void {
    for (const row of this.#rows.values()) {
      if (!row.device.connected) row.state.textContent = connectionText(row.device);
    }
  }

  #row(device: DeviceView): Row {
    const dot = el('span', { class: 'dot' });
    const state = el('span', { class: 'seen', test: 'device-state' });
    const button = el(
      'button',
      {
        class: 'device',
        test: 'device',
        data: { deviceId: device.deviceId },
        attrs: { type: 'button', 'aria-pressed': 'false' },
        onClick: () => this.onSelect(device.deviceId),
      },
      dot,
      el('span', { class: 'id', text: device.deviceId, title: device.deviceId }),
      state,
    );
    return { device, item: el('li', {}, button), button, dot, state };
  }

  #paint(row: Row): void {
    const { device } = row;
    row.dot.className = device.connected ? 'dot on' : 'dot';
    row.dot.title = device.connected ? 'connected' : 'not connected';
    row.state.textContent = connectionText(device);
    row.state.title = device.lastSeen ? `last seen ${localTime(device.lastSeen)}` : 'never seen';
    row.button.dataset.connected = String(device.connected);
    row.button.setAttribute('aria-pressed', String(device.deviceId === this.#selected));
  }
}
