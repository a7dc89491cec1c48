/**
 * The JSON shapes of the management API and of its live event stream, as they travel. Types only (no imports, no
 * runtime code), so both the emulator (Node) and the portal (a browser bundle, emulator/portal/) check against the
 * same definitions.
 */

export type OperationStatus = 'pending' | 'approved' | 'cancelled' | 'expired';

/** `GET /provisioning-operations`, `GET /provisioning-operations/{id}`, approve and cancel. */
export interface OperationView {
  provisioningOperationId: string;
  deviceId: string;
  verificationCode: string;
  expirationTime: string;
  status: OperationStatus;
}

/** `GET /devices`. */
export interface DeviceView {
  deviceId: string;
  connected: boolean;
  lastSeen: string | null;
  /** How many of its oldest messages the emulator dropped to keep at most `--retain-messages` of them. */
  droppedMessages: number;
}

/** One stored telemetry message (`GET /devices/{id}/messages`); the payload is decoded. */
export interface MessageView {
  sequence: number;
  mid: string | null;
  streamGroup: string | null;
  stream: string | null;
  siteId: string | null;
  batchId: string | null;
  batchSliceId: string | null;
  messageId: string | null;
  chunkId: string | null;
  properties: Record<string, string>;
  payloadBase64: string;
  receivedAt: string;
  duplicate: boolean;
}

export interface MessagePage {
  items: MessageView[];
  next: number | null;
}

/** A message as the live stream carries it: the payload may be cut to its first bytes. */
export interface LiveMessageView extends MessageView {
  /** Size of the whole decoded payload. */
  payloadBytes: number;
  /** `payloadBase64` holds only the first bytes; `GET …/messages?after={sequence - 1}&limit=1` has all. */
  payloadTruncated: boolean;
}

/** `GET /devices/{id}/batches`. */
export interface BatchView {
  streamGroup: string;
  stream: string;
  batchId: string;
  messageCount: number;
  completedAt: string | null;
}

/** A twin section as sent: the properties plus `$version`. */
export type TwinSectionDocument = { $version: number } & Record<string, unknown>;

/** `GET /devices/{id}/twin`. */
export interface TwinView {
  desired: TwinSectionDocument;
  reported: TwinSectionDocument;
}

/** `GET /devices/{id}/connections`: the device's last connects and disconnects, oldest first. */
export interface ConnectionEntry {
  at: string;
  event: 'connected' | 'disconnected';
  /** How it connected (transport) or why the connection ended. */
  reason: string;
}

/** `GET /devices/{id}/files`: a blob the device uploaded. */
export interface FileView {
  /** The blob name the device asked for (download: `GET /devices/{id}/files/{name}`). */
  name: string;
  size: number;
  uploadedAt: string;
  /** The device sent its upload notification; `succeeded` is what it said. */
  notified: boolean;
  succeeded: boolean | null;
}

/** `GET /devices/{id}/c2d-messages`: cloud-to-device messages waiting for the device. */
export interface CloudMessageView {
  mid: string;
  properties: Record<string, string>;
  payloadBase64: string;
  enqueuedAt: string;
  /** When the hub drops it undelivered. */
  expiresAt: string;
  /** How often it was written to the device without an acknowledgement (dropped at 10). */
  deliveryCount: number;
}

/** `POST /devices/{id}/methods/{name}`. */
export interface MethodResultView {
  status: number;
  payload: unknown;
}

/** RFC 7807 problem details, the body of every error. */
export interface ProblemView {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
}

/** `GET /events` (server-sent events): the event name and the JSON in its `data`. */
export interface LiveEvents {
  /**
   * First event of every stream. `resumed`: the events after the `Last-Event-ID` the client sent were replayed
   * before it; otherwise the client must reload what it shows.
   */
  ready: { resumed: boolean };
  'operation.created': OperationView;
  'operation.approved': OperationView;
  'operation.cancelled': OperationView;
  'operation.expired': OperationView;
  'device.registered': DeviceView;
  'device.connected': { device: DeviceView; entry: ConnectionEntry };
  'device.disconnected': { device: DeviceView; entry: ConnectionEntry };
  /** `droppedMessages`: as in the device's {@link DeviceView}, after this message was stored. */
  'message.received': {
    deviceId: string;
    message: LiveMessageView;
    batch: BatchView | null;
    droppedMessages: number;
  };
  'twin.changed': { deviceId: string; side: 'desired' | 'reported'; document: TwinSectionDocument };
  'c2d.queued': { deviceId: string; message: CloudMessageView };
  'c2d.delivered': { deviceId: string; mid: string; deliveredAt: string };
  /** Dropped undelivered: it expired, or was written 10 times without an acknowledgement. */
  'c2d.dropped': {
    deviceId: string;
    mid: string;
    reason: 'expired' | 'delivery count exceeded';
    droppedAt: string;
  };
  'file.uploaded': { deviceId: string; file: FileView };
}

export type LiveEventName = keyof LiveEvents;
