import type { DeviceView } from './http/wire.js';
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

/**
 * Time as the emulator reads it and waits on it: the SAS-expiry close, the announcement of expired provisioning
 * operations and the direct-method timeout wait on `setTimeout`. Tests hand in their own (the SDK's `Clock` port has
 * this shape) so that a lifetime passes when the test moves the clock, not after a sleep.
 */
export interface EmulatorClock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Runs `callback` once after `ms`; the handle is only given back to {@link EmulatorClock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer {@link EmulatorClock.setTimeout} started. */
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock. Its timers do not keep the process alive (the listener does, while the emulator runs), and it reads
 * the `setTimeout` global at each call, so a test that watches or fakes the globals sees these timers too.
 */
export const realEmulatorClock: EmulatorClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

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
  /** The time; the same as `clock.now`. */
  now: () => number;
  /** What the emulator's timing rules read and wait on. */
  clock: EmulatorClock;
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

/** A device as the management API and its live stream show it. */
export function deviceView(
  context: EmulatorContext,
  device: { deviceId: string; lastSeen: number | null },
  connected: boolean,
): DeviceView {
  return {
    deviceId: device.deviceId,
    connected,
    lastSeen: device.lastSeen === null ? null : new Date(device.lastSeen).toISOString(),
    droppedMessages: context.messages.dropped(device.deviceId),
  };
}
