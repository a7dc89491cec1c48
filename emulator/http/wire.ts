/**
 * The JSON shapes of the management API and of its live event stream, as they travel. Types only (no imports, no
 * runtime code), so both the emulator (Node) and the portal (a browser bundle, emulator/portal/) check against the
 * same definitions.
 */

export type OperationStatus = 'pending' | 'approved' | 'cancelled' | 'expired';

/** `GET /provisioning-operations`, `GET /provisioning-operations/{id}`, approve and cancel. */
export interface OperationView {
  /** The operation's id (what approve and cancel take). */
  provisioningOperationId: string;
  /** The device id the device asked to be provisioned as. */
  deviceId: string;
  /** The code the device shows its user, to be matched before approving. */
  verificationCode: string;
  /** When the operation expires if not decided (ISO time). */
  expirationTime: string;
  /** Where the operation is: pending until approved, cancelled or expired. */
  status: OperationStatus;
}

/** `GET /devices`. */
export interface DeviceView {
  /** The device's id. */
  deviceId: string;
  /** Whether it has an MQTT connection to the hub now. */
  connected: boolean;
  /** When it last connected or disconnected (ISO time); null until its first connection. */
  lastSeen: string | null;
  /** How many of its oldest messages the emulator dropped to keep at most `--retain-messages` of them. */
  droppedMessages: number;
}

/** One stored telemetry message (`GET /devices/{id}/messages`); the payload is decoded. */
export interface MessageView {
  /** Its place among the device's messages: increasing, never reused (page with `after`). */
  sequence: number;
  /** The `$.mid` property the device sent, if any. */
  mid: string | null;
  /** The `stream-group-name` property, if any. */
  streamGroup: string | null;
  /** The `stream-name` property, if any. */
  stream: string | null;
  /** The `site-id` property, if any. */
  siteId: string | null;
  /** The `batch-id` property, if any. */
  batchId: string | null;
  /** The `batch-slice-id` property, if any. */
  batchSliceId: string | null;
  /** The `message-id` property, if any. */
  messageId: string | null;
  /** The `chunk-id` property, if any. */
  chunkId: string | null;
  /** The whole property bag of the MQTT topic (with `x-emulator-decode-error` when the payload could not be decoded). */
  properties: Record<string, string>;
  /** The payload (decoded unless decoding failed), base64. */
  payloadBase64: string;
  /** When the emulator received it (ISO time). */
  receivedAt: string;
  /** Its `$.mid` was already seen from the device (a message still kept). */
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
export type TwinSectionDocument = {
  /** The section's version, raised by every change. */
  $version: number;
} & Record<string, unknown>;

/** `GET /devices/{id}/twin`. */
export interface TwinView {
  /** The desired properties (set through the management API). */
  desired: TwinSectionDocument;
  /** The reported properties (set by the device). */
  reported: TwinSectionDocument;
}

/** `GET /devices/{id}/connections`: the device's last connects and disconnects, oldest first. */
export interface ConnectionEntry {
  /** When it happened (ISO time). */
  at: string;
  /** Whether the device connected or disconnected. */
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
  /** The message id (its `$.mid` on the device's topic). */
  mid: string;
  /** The user properties and the sender's system properties (`$.cid`, `$.exp`, …) it was sent with. */
  properties: Record<string, string>;
  /** The payload, base64. */
  payloadBase64: string;
  /** When it was queued (ISO time). */
  enqueuedAt: string;
  /** When the hub drops it undelivered (ISO time). */
  expiresAt: string;
  /** How often it was written to the device without an acknowledgement (dropped at 10). */
  deliveryCount: number;
}

/** `POST /devices/{id}/methods/{name}`. */
export interface MethodResultView {
  /** The status the device answered with. */
  status: number;
  /** The JSON payload the device answered with. */
  payload: unknown;
}

/** RFC 7807 problem details, the body of every error. */
export interface ProblemView {
  /** A URI naming the kind of problem (`about:blank` when there is none). */
  type?: string;
  /** A short summary, e.g. `Device not connected`. */
  title?: string;
  /** The HTTP status. */
  status?: number;
  /** What went wrong in this case. */
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
