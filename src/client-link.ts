/**
 * What a hub connection starts and ends: the twin syncs on it, the sender sends on it (one run at a time, the next
 * after the previous one has let go), and the user hears `connected` and `disconnected`.
 */
import type { DeviceClientEvents } from './client-events.js';
import { asSpotflowError, type SpotflowError } from './errors.js';
import type { HubCredentials } from './iothub/connection-string.js';
import type { OutboxSender } from './outbox/sender.js';
import type { MqttConnection } from './ports.js';
import type { TwinManager } from './twin/twin.js';
import type { TypedEvents } from './util/events.js';

export class ConnectionLink {
  #connected = false;
  /** Ends the sender's run on the current connection. */
  #endRun: (() => void) | undefined;
  #senderRun: Promise<void> = Promise.resolve();

  constructor(
    private readonly events: TypedEvents<DeviceClientEvents>,
    private readonly twin: TwinManager,
    private readonly sender: OutboxSender,
    private readonly reportError: (error: SpotflowError) => void,
  ) {}

  get connected(): boolean {
    return this.#connected;
  }

  onConnected(connection: MqttConnection, credentials: HubCredentials): void {
    this.#connected = true;
    const ended = new Promise<void>((resolve) => {
      this.#endRun = resolve;
    });
    this.events.emit('connected', { workspaceId: credentials.workspaceId, deviceId: credentials.deviceId });
    void this.twin.connected(connection, credentials.hubDeviceId);
    this.#senderRun = this.#senderRun
      .then(() => this.sender.run(connection, credentials, ended))
      .catch((error: unknown) => this.reportError(asSpotflowError(error, 'The sender stopped')));
  }

  onDisconnected(error: Error | undefined): void {
    this.#connected = false;
    this.#endRun?.();
    this.#endRun = undefined;
    this.twin.disconnected();
    this.events.emit('disconnected', { error });
  }

  /** Ends the sender's run (the session has stopped) and waits until it has. */
  async stop(): Promise<void> {
    this.#endRun?.();
    await this.#senderRun;
  }
}
