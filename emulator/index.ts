/**
 * The local Spotflow platform emulator: the device HTTP API, an IoT Hub-compatible MQTT broker (TCP, TLS and
 * WebSocket), device twins, cloud-to-device messages, direct methods, file upload with a blob store, the
 * management API and the portal, all on one port.
 *
 * @example
 * ```ts
 * import { startEmulator } from 'spotflow-device/emulator';
 * const emulator = await startEmulator({ memory: true, port: 0 });
 * console.log(emulator.instance, emulator.provisioningToken);
 * await emulator.close();
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EmulatorContext } from './context.js';
import { addDeviceApi } from './http/device-api.js';
import { addHubFileApi } from './http/hub-files.js';
import { addManagementApi } from './http/management-api.js';
import { addPortal } from './http/portal.js';
import { Router } from './http/router.js';
import { createRequestListener } from './http/server.js';
import { type EmulatorLogger, silentLogger } from './log.js';
import { DeviceLinks } from './mqtt/device-links.js';
import { IotHubBroker } from './mqtt/hub.js';
import { loadOrCreateTlsMaterial } from './net/certificates.js';
import { listenOnePort } from './net/listener.js';
import { guardMqttPacketSize } from './net/packet-guard.js';
import { BlobStore } from './state/blobs.js';
import { CloudMessageQueue } from './state/cloud-to-device.js';
import { openEmulatorDatabase } from './state/database.js';
import { DeviceStore } from './state/devices.js';
import { MessageStore } from './state/messages.js';
import { ProvisioningStore } from './state/provisioning.js';
import { TwinStore } from './state/twins.js';
import { Workspace, type WorkspaceSettings } from './state/workspace.js';

export type { EmulatorLogger } from './log.js';
export { createLogger } from './log.js';
export type { WorkspaceSettings } from './state/workspace.js';

export interface EmulatorOptions {
  /** Port for everything (HTTP, MQTT, WebSocket; plain and TLS). 0 picks a free one. Default 5080. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Where state (SQLite), certificates and uploaded blobs live. Default `.spotflow-emulator` in the cwd. */
  dataDir?: string;
  /** Keep state in memory only (certificates go to a temporary directory removed on close). */
  memory?: boolean;
  /** Advertise `https://` as the instance URL (the port speaks TLS and plain text either way). */
  tls?: boolean;
  /** Fix the workspace id and secrets instead of generating them on first start. */
  workspaceId?: string;
  provisioningToken?: string;
  apiToken?: string;
  /** Initial settings; stored settings are overridden only by the fields given here. */
  settings?: Partial<WorkspaceSettings>;
  logger?: EmulatorLogger;
  /** Clock, for tests. */
  now?: () => number;
}

export interface RunningEmulator {
  /** The platform instance URL devices are given, e.g. `http://localhost:5080`. */
  instance: string;
  port: number;
  workspaceId: string;
  provisioningToken: string;
  apiToken: string;
  /** PEM file of the CA that signed the emulator's TLS certificate. */
  caFile: string;
  /** PEM text of that CA. */
  ca: string;
  /** The portal page (the API token rides in the fragment, never sent to a server). */
  portalUrl: string;
  /** Stops listening, closes device connections and the database. */
  close(): Promise<void>;
}

/** Largest MQTT packet accepted: IoT Hub's 256 KB message plus room for the topic and header. */
const maxMqttPacketBytes = 300 * 1024;

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const log = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const host = options.host ?? '127.0.0.1';
  const memory = options.memory ?? false;
  const dataDir = memory
    ? mkdtempSync(join(tmpdir(), 'spotflow-emulator-'))
    : (options.dataDir ?? '.spotflow-emulator');
  const db = openEmulatorDatabase(memory ? null : dataDir);
  const tls = await loadOrCreateTlsMaterial(join(dataDir, 'tls'));

  const workspace = new Workspace(
    db,
    {
      workspaceId: options.workspaceId,
      provisioningToken: options.provisioningToken,
      apiToken: options.apiToken,
    },
    options.settings ?? {},
  );
  let hubHostName = '';
  const context: EmulatorContext = {
    workspace,
    provisioning: new ProvisioningStore(db, workspace, now),
    devices: new DeviceStore(db, now),
    twins: new TwinStore(db),
    messages: new MessageStore(db, now),
    cloudMessages: new CloudMessageQueue(db, now),
    blobs: new BlobStore(db, now),
    links: new DeviceLinks(),
    log,
    now,
    hubHostName: () => hubHostName,
  };

  const hub = await IotHubBroker.start(context);
  const router = new Router();
  addDeviceApi(router, context);
  addHubFileApi(router, context);
  addManagementApi(router, context, hub);
  addPortal(router, context);
  const listener = await listenOnePort({
    host,
    port: options.port ?? 5080,
    tls,
    http: createRequestListener(router, log),
    mqtt: (stream, request) => {
      guardMqttPacketSize(stream, maxMqttPacketBytes, (reason) => {
        log.warn('MQTT connection dropped', { reason });
        stream.destroy();
      });
      hub.handle(stream, request);
    },
    log,
  });
  hubHostName = `localhost:${listener.port}`;
  const instance = `${options.tls ? 'https' : 'http'}://localhost:${listener.port}`;
  log.info('emulator listening', { instance, dataDir: memory ? '(memory)' : dataDir });

  let closed: Promise<void> | undefined;
  return {
    instance,
    port: listener.port,
    ...workspace.identity,
    caFile: tls.caFile,
    ca: tls.ca,
    portalUrl: `${instance}/portal#apiToken=${encodeURIComponent(workspace.identity.apiToken)}`,
    close() {
      closed ??= (async () => {
        await hub.close();
        await listener.close();
        db.close();
        if (memory) rmSync(dataDir, { recursive: true, force: true });
        log.info('emulator stopped');
      })();
      return closed;
    },
  };
}
