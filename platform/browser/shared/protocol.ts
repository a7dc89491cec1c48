/**
 * What the contexts of one shared device say to each other on their BroadcastChannel (see shared-device.ts): the
 * owner's announcements and state, relayed calls and their replies, events, handler registrations and deliveries.
 * Everything here is structured-cloned, so errors travel as plain data and are rebuilt on the other side.
 */
import type { CheckedMessage } from '../../../src/checked-message.js';
import {
  isSpotflowError,
  SPOTFLOW_ERROR_CODES,
  SpotflowError,
  type SpotflowErrorCode,
} from '../../../src/errors.js';
import type { DesiredProperties } from '../../../src/options.js';
import type { ReportedProperties } from '../../../src/twin/twin.js';

/** What a context that does not own the device shows without asking: kept current by the owner. */
export interface Snapshot {
  /** Counts up with each snapshot an owner makes: one that arrives late (channels do not keep order between them) is older. */
  seq: number;
  workspaceId: string;
  deviceId: string;
  connected: boolean;
  desired: DesiredProperties;
  reported: ReportedProperties;
}

/** Calls a context relays to the owner, with their arguments (checked in the calling context). */
export interface Calls {
  enqueue: [message: CheckedMessage, mid: string];
  send: [message: CheckedMessage, mid: string];
  pendingCount: [];
  waitSent: [];
  updateReported: [patch: Record<string, unknown>];
  waitReportedSent: [];
}
export type CallName = keyof Calls;

/** An error as data. */
export interface WireError {
  code: SpotflowErrorCode | undefined;
  name: string;
  message: string;
}

export type Outcome = { ok: true; value: unknown } | { ok: false; error: WireError };

/** A cloud-to-device message as data (its `text()` is added back where it is handed over). */
export interface WireCloudMessage {
  payload: Uint8Array;
  properties: Record<string, string>;
  messageId: string | undefined;
}

export type Delivery =
  | { kind: 'cloud'; message: WireCloudMessage }
  | { kind: 'method'; name: string; payload: unknown };

/** Every message on the channel; `from` is the sending context's id. */
export type Envelope = { from: string } & (
  | { t: 'hello' }
  | { t: 'ready'; snapshot: Snapshot }
  | { t: 'closing' }
  | { t: 'state'; snapshot: Snapshot }
  | { t: 'event'; name: string; payload: unknown }
  // `retry`: posted before (to an owner that may have stored it); `floor`: the caller's oldest call still waiting.
  | { t: 'call'; id: number; name: CallName; args: unknown[]; retry: boolean; floor: number }
  | { t: 'reply'; to: string; id: number; outcome: Outcome }
  | { t: 'cancel'; id: number }
  // What a context handles, and the events it listens to (beyond those every context is sent).
  | { t: 'handlers'; cloud: boolean; methods: string[]; events: string[] }
  | { t: 'bye' }
  | { t: 'deliver'; to: string; id: number; delivery: Delivery }
  | { t: 'delivered'; to: string; id: number; outcome: Outcome }
);

/** Events every context is sent, listened to or not: a context's state follows them. */
export const stateEvents: ReadonlySet<string> = new Set(['connected', 'disconnected', 'desiredProperties']);

/** An envelope before its sender's id is added. */
export type Outgoing = Envelope extends infer E ? (E extends unknown ? Omit<E, 'from'> : never) : never;

/** The outcome's error name that says "this context has no such handler (any more)": the owner asks another. */
export const handlerGone = 'HandlerGone';

/** A relayed message as {@link CheckedMessage} needs it (the other context checked it; this is about the wire). */
export function isCheckedMessage(value: unknown): value is CheckedMessage {
  const message = value as Partial<CheckedMessage> | null;
  return (
    typeof message === 'object' &&
    message !== null &&
    message.payload instanceof Uint8Array &&
    typeof message.properties === 'object' &&
    message.properties !== null &&
    (message.compression === 'none' ||
      message.compression === 'fastest' ||
      message.compression === 'smallest')
  );
}

/** Web Lock and channel names, all under the database's name (lock names are shared with the whole origin). */
export const sharedNames = (database: string) => ({
  /** The database's own lock (platform/browser/lock.ts): whoever holds it owns the device. */
  owner: `spotflow-device:${database}`,
  /** Held beside `owner` by a shared owner only: an `owner` lock without it is a client started without `shared`. */
  sharedMarker: `spotflow-device-shared:${database}`,
  /** Held by each context for its whole life: granted to a waiter when the context closes or dies. */
  context: (id: string) => `spotflow-device-context:${database}:${id}`,
  channel: `spotflow-device:${database}`,
});

export function toWireError(error: unknown): WireError {
  if (isSpotflowError(error)) return { code: error.code, name: error.name, message: error.message };
  const named = error as { name?: unknown; message?: unknown } | null;
  return {
    code: undefined,
    name: typeof named?.name === 'string' ? named.name : 'Error',
    message: typeof named?.message === 'string' ? named.message : String(error),
  };
}

/** A SpotflowError for one with a known code; otherwise an Error with the same name and message. */
export function fromWireError(wire: WireError): Error {
  if (wire.code !== undefined && (SPOTFLOW_ERROR_CODES as readonly string[]).includes(wire.code)) {
    return new SpotflowError(wire.code, wire.message);
  }
  const error = new Error(wire.message);
  error.name = wire.name;
  return error;
}

export async function outcomeOf(work: () => unknown): Promise<Outcome> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error: toWireError(error) };
  }
}

/** An event's payload as data: the errors in `error` and `disconnected` travel as {@link WireError}. */
export function eventToWire(name: string, payload: unknown): unknown {
  if (name === 'error') return toWireError(payload);
  if (name === 'disconnected') {
    const error = (payload as { error?: unknown }).error;
    return { error: error === undefined ? undefined : toWireError(error) };
  }
  return payload;
}

export function eventFromWire(name: string, payload: unknown): unknown {
  if (name === 'error') return fromWireError(payload as WireError);
  if (name === 'disconnected') {
    const error = (payload as { error?: WireError }).error;
    return { error: error === undefined ? undefined : fromWireError(error) };
  }
  return payload;
}
