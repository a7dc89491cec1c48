import { ManagementApi } from './api';
import { byId } from './dom';
import { type LiveState, LiveStream } from './live';
import type { TabStore } from './session';
import { DevicePanel } from './views/device-panel';
import { DevicesView } from './views/devices';
import { FocusView } from './views/focus';
import { OperationsView } from './views/operations';

const liveText: Record<LiveState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Connection lost, reconnecting…',
  stopped: 'Not signed in',
};

/**
 * The signed-in portal: the views, fed once by the management API and from then on by the live stream. Made on
 * sign-in, dropped on sign-out (or when the emulator refuses the token).
 */
export class PortalSession {
  readonly api: ManagementApi;
  readonly #live: LiveStream;
  readonly #operations: OperationsView;
  readonly #focus: FocusView;
  readonly #devices: DevicesView;
  readonly #panel: DevicePanel;
  readonly #deviceKey: string;
  #loadedOnce = false;
  #stopped = false;
  #wantedDevice: string | undefined;

  constructor(
    workspaceId: string,
    token: string,
    private readonly store: TabStore,
    onUnauthorized: () => void,
  ) {
    this.#deviceKey = `spotflow-emulator-device:${workspaceId}`;
    this.api = new ManagementApi(workspaceId, token, onUnauthorized);
    const status = byId('live-status');
    this.#live = new LiveStream(this.api, (state, detail) => {
      if (this.#stopped && state !== 'stopped') return;
      status.textContent = liveText[state];
      status.title = detail ?? '';
      status.className = `link ${state === 'live' ? 'up' : state === 'reconnecting' ? 'down' : ''}`;
      status.dataset.state = state;
    });
    this.#operations = new OperationsView(this.api, this.#live);
    this.#focus = new FocusView(this.api, this.#live);
    this.#panel = new DevicePanel(this.api, this.#live);
    this.#devices = new DevicesView(
      this.api,
      this.#live,
      (deviceId) => this.selectDevice(deviceId),
      (device) => this.#panel.update(device),
    );
    this.#live.on('ready', ({ resumed }) => {
      if (!resumed || !this.#loadedOnce) void this.#reload();
    });
  }

  /** Starts the live stream; the views load once it is open (so no event falls between load and stream). */
  start(options: { operation?: string; device?: string }): void {
    this.#wantedDevice = options.device ?? this.store.get(this.#deviceKey) ?? undefined;
    if (options.device !== undefined) this.selectDevice(options.device);
    void this.#focus.open(options.operation);
    this.#live.start();
  }

  stop(): void {
    this.#stopped = true;
    this.#live.stop();
  }

  openOperation(id: string): void {
    void this.#focus.open(id);
  }

  selectDevice(deviceId: string): void {
    this.#wantedDevice = undefined;
    this.store.set(this.#deviceKey, deviceId);
    this.#devices.select(deviceId);
    if (this.#panel.deviceId === deviceId) return;
    this.#panel.open(deviceId, this.#devices.get(deviceId));
  }

  /** Once a second: countdowns and "last seen" times. */
  tick(): void {
    this.#operations.tick();
    this.#focus.tick();
    this.#devices.tick();
    this.#panel.tick();
  }

  async #reload(): Promise<void> {
    const first = !this.#loadedOnce;
    this.#loadedOnce = true;
    const [, listed] = await Promise.all([
      this.#operations.load(),
      this.#devices.load(),
      first ? undefined : this.#focus.load(),
    ]);
    if (listed) this.#panel.listLoaded();
    const wanted = this.#wantedDevice;
    if (this.#panel.deviceId === undefined && wanted !== undefined && this.#devices.get(wanted)) {
      this.selectDevice(wanted);
    } else if (!first) {
      await this.#panel.reload();
    }
  }
}
