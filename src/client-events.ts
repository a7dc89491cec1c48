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
  connecting: {
    /** 1 for the first attempt since the last connection ended (or since the start). */
    attempt: number;
    /** The hub's host name. */
    host: string;
  };
  /** The MQTT connection to the hub is up; queued messages and reported properties are being sent. */
  connected: {
    /** The workspace the device belongs to. */
    workspaceId: string;
    /** The device's id. */
    deviceId: string;
  };
  /** The connection to the hub ended; the client reconnects by itself (with backoff) until it is closed. */
  disconnected: {
    /** Why, or undefined when the client closed it. */
    error: Error | undefined;
  };
  /**
   * A background failure; the SDK retries by itself. Never an unhandled rejection; with no listener attached it
   * goes to the logger at `warn`.
   */
  error: SpotflowError;
  /** A newer version of the desired properties arrived from the hub (and is stored). */
  desiredProperties: DesiredProperties;
  /** The hub acknowledged a message; `id` is what `enqueueMessage` returned. */
  messageSent: {
    /** The message's id. */
    id: string;
  };
  /** The hub accepted the reported properties written so far. */
  reportedPropertiesSent: {
    /** The reported properties' version the hub assigned. */
    version: number;
  };
  /** An outbox limit was reached and old messages were dropped (policy `dropOldest`). */
  outboxFull: Dropped;
  /** The registration is no longer accepted; the device provisions again in the background. */
  provisioningRequired: {
    /** Why the registration was refused, as the platform said it. */
    reason: string;
  };
  /** A large message's file upload advanced (see {@link UploadProgress}). */
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
