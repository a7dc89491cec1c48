import { invalidArgument, type SpotflowError } from './errors.js';
import type { DesiredProperties } from './options.js';
import type { Dropped } from './outbox/store.js';
import type { UploadProgress } from './outbox/upload.js';

/** Events of a {@link DeviceClient}, with their payloads. */
export interface DeviceClientEvents {
  /**
   * A connection attempt to the hub begins. `attempt` counts the attempts since the last connection ended (or since
   * the start), from 1: a status display can tell "connecting" from "still trying".
   */
  connecting: { attempt: number; host: string };
  connected: { workspaceId: string; deviceId: string };
  disconnected: { error: Error | undefined };
  /**
   * A background failure; the SDK retries by itself. Never an unhandled rejection; with no listener attached it
   * goes to the logger at `warn`.
   */
  error: SpotflowError;
  desiredProperties: DesiredProperties;
  /** The hub acknowledged a message; `id` is what `enqueueMessage` returned. */
  messageSent: { id: string };
  reportedPropertiesSent: { version: number };
  /** An outbox limit was reached and old messages were dropped (policy `dropOldest`). */
  outboxFull: Dropped;
  /** The registration is no longer accepted; the device provisions again in the background. */
  provisioningRequired: { reason: string };
  uploadProgress: UploadProgress;
}

/** One entry per event of {@link DeviceClientEvents}: a missing or extra name fails to compile. */
const eventSet: { readonly [K in keyof DeviceClientEvents]: true } = {
  connecting: true,
  connected: true,
  disconnected: true,
  error: true,
  desiredProperties: true,
  messageSent: true,
  reportedPropertiesSent: true,
  outboxFull: true,
  provisioningRequired: true,
  uploadProgress: true,
};

export const eventNames = Object.freeze(Object.keys(eventSet)) as readonly (keyof DeviceClientEvents)[];

/** A misspelt event would never fire, and a non-function would only fail when it does: both fail here. */
export function checkListener(event: unknown, listener: unknown): void {
  if (typeof event !== 'string' || !Object.hasOwn(eventSet, event)) {
    throw invalidArgument(`Unknown event; the client emits ${eventNames.join(', ')}`);
  }
  if (typeof listener !== 'function') throw invalidArgument('An event listener must be a function');
}
