/**
 * The emulator itself; its public entry is index.ts, which checks that the server stack (optional peer
 * dependencies) is installed before it loads this module.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmulatorClock, type EmulatorContext, realEmulatorClock } from './context.js';
import { addDeviceApi } from './http/device-api.js';
import { addHubFileApi } from './http/hub-files.js';
import { addManagementApi } from './http/management-api.js';
import { addManagementEvents } from './http/management-events.js';
import { addManagementFiles } from './http/management-files.js';
import { addPortal } from './http/portal.js';
import { createHttpApp, createRequestListener } from './http/server.js';
import { EventBus } from './live/event-bus.js';
import { OperationExpiry } from './live/operation-expiry.js';
import { type EmulatorLogger, silentLogger } from './log.js';
import { DeviceLinks } from './mqtt/device-links.js';
import { IotHubBroker } from './mqtt/hub.js';
import { loadOrCreateTlsMaterial } from './net/certificates.js';
import { type ConnectionTimeouts, listenOnePort, type OnePortListener } from './net/listener.js';
import { guardMqttPacketSize } from './net/packet-guard.js';
import { hubHostName as hubHostNameOf, instanceUrl } from './net/public-address.js';
import { BlobStore } from './state/blobs.js';
import { CloudMessageQueue } from './state/cloud-to-device.js';
import { ConnectionLog } from './state/connections.js';
import { type EmulatorDatabase, openEmulatorDatabase } from './state/database.js';
import { DeviceStore } from './state/devices.js';
import { defaultRetainMessages, MessageStore } from './state/messages.js';
import { ProvisioningStore } from './state/provisioning.js';
import { TwinStore } from './state/twins.js';
import { Workspace, type WorkspaceSettings } from './state/workspace.js';

export type { EmulatorClock } from './context.js';
export type { EmulatorLogger } from './log.js';
export { createLogger } from './log.js';
export type { ConnectionTimeouts } from './net/listener.js';
export type { WorkspaceSettings } from './state/workspace.js';

/** Options of {@link startEmulator}; every one is optional. */
export interface EmulatorOptions {
  /** Port for everything (HTTP, MQTT, WebSocket; plain and TLS). 0 picks a free one. Default 5080. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /**
   * The host name (or IPv4 address) devices reach the emulator by: it goes into the instance URL, `iotHubHostName`
   * and the TLS certificate. Default `localhost`; set it (with `host: '0.0.0.0'`) for devices in other containers
   * or on other machines.
   */
  publicHost?: string;
  /**
   * The port devices reach the emulator by, when it differs from the one it listens on (a container's port mapping,
   * a proxy in front). Default: the listening port. On 443 the host name devices are given carries no port.
   */
  publicPort?: number;
  /** Where state (SQLite), certificates and uploaded blobs live. Default `.spotflow-emulator` in the cwd. */
  dataDir?: string;
  /** Keep state in memory only (certificates go to a temporary directory removed on close). */
  memory?: boolean;
  /**
   * Most telemetry messages kept per device, its oldest dropped first (counted in the device's `droppedMessages`), so
   * that long runs stay bounded. Default 100,000 (about 60 MB for a device sending 256-byte payloads: 620 B a message); 0 keeps
   * every message.
   */
  retainMessages?: number;
  /** Advertise `https://` as the instance URL (the port speaks TLS and plain text either way). */
  tls?: boolean;
  /** Fix the workspace id and secrets instead of generating them on first start. */
  workspaceId?: string;
  /** The token devices provision with (see `workspaceId`). */
  provisioningToken?: string;
  /** The bearer token of the management API (see `workspaceId`). */
  apiToken?: string;
  /**
   * Settings for this run: they win over the stored ones (`PATCH /settings`) while the emulator runs, but are not
   * stored, so a start without them gets the stored values back.
   */
  settings?: Partial<WorkspaceSettings>;
  /** Where the emulator logs; default: none. */
  logger?: EmulatorLogger;
  /** Most connections open at once (default 1000); more are closed as soon as they are accepted. */
  maxConnections?: number;
  /** Deadlines for connections that stop talking (defaults: 10 s, 10 s, 30 s, 120 s); for tests. */
  connectionTimeouts?: Partial<ConnectionTimeouts>;
  /**
   * The clock the emulator reads and waits on (its expiries: a connection's SAS token, an undecided provisioning
   * operation, a direct method's timeout), for tests: the SDK's `Clock` port fits. Default: the real clock.
   */
  clock?: EmulatorClock;
  /** Reads the time from this instead of `clock.now` (a skewed clock); the waits still run on `clock`. For tests. */
  now?: () => number;
}

/** A started emulator: where it listens, its workspace's secrets, and how to stop it. */
export interface RunningEmulator {
  /** The platform instance URL devices are given, e.g. `http://localhost:5080`. */
  instance: string;
  /** The port it listens on (the chosen one when started with port 0). */
  port: number;
  /** The emulated workspace's id. */
  workspaceId: string;
  /** The token devices provision with. */
  provisioningToken: string;
  /** The bearer token of the management API. */
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

/** Host names: DNS labels of letters, digits and `-`, dot-separated; or an IPv4 address. */
const publicHostPattern =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function isValidPublicHost(value: string): boolean {
  return publicHostPattern.test(value);
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const log = options.logger ?? silentLogger;
  const base = options.clock ?? realEmulatorClock;
  const now = options.now ?? (() => base.now());
  const clock: EmulatorClock = {
    now,
    setTimeout: (callback, ms) => base.setTimeout(callback, ms),
    clearTimeout: (handle) => base.clearTimeout(handle),
  };
  const host = options.host ?? '127.0.0.1';
  const publicHost = options.publicHost ?? 'localhost';
  if (!isValidPublicHost(publicHost)) throw new Error(`public host ${publicHost} is not a host name`);
  const { publicPort } = options;
  if (publicPort !== undefined && !(Number.isInteger(publicPort) && publicPort >= 1 && publicPort <= 65535)) {
    throw new Error(`public port ${publicPort} is not 1-65535`);
  }
  const retainMessages = options.retainMessages ?? defaultRetainMessages;
  if (!Number.isSafeInteger(retainMessages) || retainMessages < 0) {
    throw new Error(`retainMessages ${retainMessages} is not a whole number, 0 or more`);
  }
  const memory = options.memory ?? false;
  const dataDir = memory
    ? mkdtempSync(join(tmpdir(), 'spotflow-emulator-'))
    : (options.dataDir ?? '.spotflow-emulator');

  // What is open so far, closed again if a later step fails (and the temporary directory of --memory removed).
  let db: EmulatorDatabase | undefined;
  let hub: IotHubBroker | undefined;
  let listener: OnePortListener | undefined;
  try {
    db = openEmulatorDatabase(memory ? null : dataDir);
    const tls = await loadOrCreateTlsMaterial(join(dataDir, 'tls'), {
      publicHost: options.publicHost,
      log,
    });

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
    const provisioning = new ProvisioningStore(db, workspace, now);
    const events = new EventBus();
    const context: EmulatorContext = {
      workspace,
      provisioning,
      devices: new DeviceStore(db, now),
      twins: new TwinStore(db),
      messages: new MessageStore(db, now, retainMessages),
      cloudMessages: new CloudMessageQueue(db, now),
      blobs: new BlobStore(db, now),
      connections: new ConnectionLog(db, now),
      links: new DeviceLinks(),
      events,
      operationExpiry: new OperationExpiry(provisioning, events, clock),
      log,
      now,
      clock,
      hubHostName: () => hubHostName,
    };

    const broker = await IotHubBroker.start(context);
    hub = broker;
    const app = createHttpApp(log, now);
    addDeviceApi(app, context);
    addHubFileApi(app, context);
    addManagementApi(app, context, broker);
    addManagementFiles(app, context);
    const liveStreams = addManagementEvents(app, context);
    addPortal(app, context);
    const listening = await listenOnePort({
      host,
      port: options.port ?? 5080,
      tls,
      http: createRequestListener(app),
      mqtt: (stream, request) => {
        guardMqttPacketSize(stream, maxMqttPacketBytes, (reason) => {
          log.warn('MQTT connection dropped', { reason });
          stream.destroy();
        });
        broker.handle(stream, request);
      },
      log,
      timeouts: options.connectionTimeouts,
      maxConnections: options.maxConnections,
    });
    listener = listening;
    const advertisedPort = publicPort ?? listening.port;
    hubHostName = hubHostNameOf(publicHost, advertisedPort);
    const instance = instanceUrl(publicHost, advertisedPort, options.tls ?? false);
    log.info('emulator listening', { instance, dataDir: memory ? '(memory)' : dataDir });
    context.operationExpiry.watchPending();

    const openDb = db;
    let closed: Promise<void> | undefined;
    return {
      instance,
      port: listening.port,
      ...workspace.identity,
      caFile: tls.caFile,
      ca: tls.ca,
      portalUrl: `${instance}/portal#apiToken=${encodeURIComponent(workspace.identity.apiToken)}`,
      close() {
        closed ??= (async () => {
          context.operationExpiry.close();
          liveStreams.close();
          await broker.close();
          await listening.close();
          openDb.close();
          if (memory) rmSync(dataDir, { recursive: true, force: true });
          log.info('emulator stopped');
        })();
        return closed;
      },
    };
  } catch (error) {
    await hub?.close().catch(() => {});
    await listener?.close().catch(() => {});
    db?.close();
    if (memory) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}
