import type { EventBus } from './live/event-bus.js';
import type { OperationExpiry } from './live/operation-expiry.js';
import type { EmulatorLogger } from './log.js';
import type { DeviceLinks } from './mqtt/device-links.js';
import type { BlobStore } from './state/blobs.js';
import type { CloudMessageQueue } from './state/cloud-to-device.js';
import type { ConnectionLog } from './state/connections.js';
import type { DeviceStore } from './state/devices.js';
import type { MessageStore } from './state/messages.js';
import type { ProvisioningStore } from './state/provisioning.js';
import type { TwinStore } from './state/twins.js';
import type { Workspace } from './state/workspace.js';

/** Everything the HTTP and MQTT sides of the emulator share. */
export interface EmulatorContext {
  workspace: Workspace;
  provisioning: ProvisioningStore;
  devices: DeviceStore;
  twins: TwinStore;
  messages: MessageStore;
  cloudMessages: CloudMessageQueue;
  blobs: BlobStore;
  connections: ConnectionLog;
  links: DeviceLinks;
  /** What happens, for the management API's live stream (the portal). */
  events: EventBus;
  /** Announces pending provisioning operations when they expire. */
  operationExpiry: OperationExpiry;
  log: EmulatorLogger;
  now: () => number;
  /** `host:port` devices use for IoT Hub (MQTT, WebSocket, file upload) and blob storage. */
  hubHostName: () => string;
}

/** Hub device ids are `{workspaceId}:{deviceId}`. */
export function hubDeviceId(context: EmulatorContext, deviceId: string): string {
  return `${context.workspace.identity.workspaceId}:${deviceId}`;
}

/** The device id inside a hub device id of this workspace, or undefined. */
export function deviceIdFromHubId(context: EmulatorContext, hubId: string): string | undefined {
  const prefix = `${context.workspace.identity.workspaceId}:`;
  return hubId.startsWith(prefix) && hubId.length > prefix.length ? hubId.slice(prefix.length) : undefined;
}

/** Maximum device-to-cloud message size, topic and properties included (IoT Hub's limit). */
export const maxTelemetryBytes = 256 * 1024;
