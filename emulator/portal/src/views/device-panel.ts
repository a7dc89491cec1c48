import type { DeviceView } from '../../../http/wire';
import type { ManagementApi } from '../api';
import { byId } from '../dom';
import type { LiveStream } from '../live';
import { BatchesView } from './batches';
import { CloudMessagesView } from './c2d';
import { ConnectionsView } from './connections';
import { connectionText } from './devices';
import { FilesView } from './files';
import { MessagesView } from './messages';
import { MethodView } from './method';
import { TwinView } from './twin';

/** Everything about the selected device: its state, messages, batches, twin, C2D, methods, files, history. */
export class DevicePanel {
  readonly #panel = byId('device-panel');
  readonly #dot = byId('device-dot');
  readonly #state = byId('device-state');
  readonly #dropped = byId('messages-dropped');
  readonly #messages: MessagesView;
  readonly #sections: { open(deviceId: string): void }[];
  readonly #reloadable: { load(): Promise<void> }[];
  #deviceId: string | undefined;
  #device: DeviceView | undefined;
  /** The device list has loaded: a device missing from it is not registered (before, it is just not known yet). */
  #listLoaded = false;

  constructor(api: ManagementApi, live: LiveStream) {
    const connected = () => this.#device?.connected === true;
    this.#messages = new MessagesView(api, live);
    const batches = new BatchesView(api, live, this.#messages);
    const twin = new TwinView(api, live, connected);
    const c2d = new CloudMessagesView(api, live, connected);
    const files = new FilesView(api, live);
    const connections = new ConnectionsView(api, live);
    this.#sections = [this.#messages, batches, twin, new MethodView(api), c2d, files, connections];
    this.#reloadable = [this.#messages, batches, twin, c2d, files, connections];
    // The device list learns of drops only when it reloads; each stored message says how many there are so far.
    live.on('message.received', ({ deviceId, droppedMessages }) => {
      if (deviceId !== this.#deviceId || this.#device === undefined) return;
      if (droppedMessages === this.#device.droppedMessages) return;
      this.#device = { ...this.#device, droppedMessages };
      this.#paint();
    });
  }

  get deviceId(): string | undefined {
    return this.#deviceId;
  }

  /** Shows a device (`device` undefined: not, or not yet, known to the device list). */
  open(deviceId: string, device: DeviceView | undefined): void {
    this.#deviceId = deviceId;
    this.#device = device;
    byId('no-device').hidden = true;
    this.#panel.hidden = false;
    this.#panel.dataset.deviceId = deviceId;
    byId('device-name').textContent = deviceId;
    this.#paint();
    for (const section of this.#sections) section.open(deviceId);
  }

  /** The device list learned something about a device. */
  update(device: DeviceView): void {
    if (device.deviceId !== this.#deviceId) return;
    this.#device = device;
    this.#paint();
  }

  /** The device list has loaded once. */
  listLoaded(): void {
    this.#listLoaded = true;
    this.#paint();
  }

  /** Reloads everything shown (after the live stream could not resume). */
  async reload(): Promise<void> {
    if (this.#deviceId === undefined) return;
    await Promise.all(this.#reloadable.map((section) => section.load()));
  }

  tick(): void {
    if (this.#deviceId !== undefined) this.#paint();
  }

  #paint(): void {
    const device = this.#device;
    this.#dot.className = device?.connected ? 'dot on' : 'dot';
    this.#state.textContent = device || this.#listLoaded ? connectionText(device) : 'loading…';
    this.#state.className = device?.connected ? 'state on' : 'state';
    this.#panel.dataset.connected = String(device?.connected === true);
    const dropped = device?.droppedMessages ?? 0;
    this.#dropped.hidden = dropped === 0;
    this.#dropped.dataset.dropped = String(dropped);
    this.#dropped.textContent =
      dropped === 0
        ? ''
        : `${dropped.toLocaleString()} older ${dropped === 1 ? 'message' : 'messages'} dropped: the emulator keeps ` +
          'only the newest messages of each device (--retain-messages).';
  }
}
