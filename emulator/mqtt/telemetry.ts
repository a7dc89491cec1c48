import { promisify } from 'node:util';
import { brotliDecompress } from 'node:zlib';
import { type EmulatorContext, hubDeviceId, maxTelemetryBytes } from '../context.js';
import { type BlobContent, uploadContainer } from '../state/blobs.js';
import { type AddedMessage, payloadBytes, type StoredPayload } from '../state/messages.js';
import { parsePropertyBag } from './property-bag.js';

const decompress = promisify(brotliDecompress);

/**
 * Largest payload Brotli is undone into. Beyond it the raw bytes are stored with a decode error: a few hundred bytes
 * of Brotli can claim gigabytes, and the emulator must neither store nor serve that.
 */
export const maxDecodedBytes = 8 * 1024 * 1024;

/** Why a publish was refused; IoT Hub answers these by closing the connection. */
export class TelemetryRejected extends Error {}

/**
 * Stores one device-to-cloud message published to `devices/{hubId}/messages/events/{propertyBag}`.
 * Runs before the PUBACK is sent, so an acknowledged message is always stored. `retained` = the PUBLISH had the
 * retain flag: IoT Hub keeps nothing and marks the message with `mqtt-retain=true` instead.
 */
export async function ingestTelemetry(
  context: EmulatorContext,
  deviceId: string,
  bag: string,
  topicBytes: number,
  payload: Buffer,
  retained = false,
): Promise<AddedMessage> {
  if (topicBytes + payload.length > maxTelemetryBytes) {
    throw new TelemetryRejected(`message of ${topicBytes + payload.length} bytes exceeds 256 KB`);
  }
  let properties: Record<string, string>;
  try {
    properties = parsePropertyBag(bag);
  } catch {
    throw new TelemetryRejected('malformed property bag');
  }
  if (retained) properties['mqtt-retain'] = 'true';
  const decoded = await decodePayload(context, deviceId, properties, payload);
  // IoT Hub itself never decodes; the emulator does, and keeps what it could not decode visible instead of
  // refusing it (a refused message would come back from the device forever).
  if (typeof decoded === 'string') properties['x-emulator-decode-error'] = decoded;
  const text = (key: string) => properties[key] ?? null;
  const stored = context.messages.add(
    deviceId,
    {
      mid: text('$.mid'),
      streamGroup: text('stream-group-name'),
      stream: text('stream-name'),
      siteId: text('site-id'),
      batchId: text('batch-id'),
      batchSliceId: text('batch-slice-id'),
      messageId: text('message-id'),
      chunkId: text('chunk-id'),
      properties,
      payload: typeof decoded === 'string' ? payload : decoded,
    },
    { batch: properties['complete-batch'] === 'true', message: properties['complete-message'] === 'true' },
  );
  context.events.emitLazy('message.received', () => liveMessage(context, deviceId, stored));
  return stored;
}

/** Most payload bytes a live `message.received` event carries (the rest is fetched when wanted). */
export const maxLivePayloadBytes = 8 * 1024;

function liveMessage(context: EmulatorContext, deviceId: string, stored: AddedMessage) {
  const { payload, ...rest } = stored;
  const bytes = payloadBytes(payload);
  // Only the first bytes of an uploaded payload are read (the rest is fetched when wanted).
  const head = Buffer.isBuffer(payload)
    ? payload.subarray(0, maxLivePayloadBytes)
    : (context.blobs.read(payload.id, maxLivePayloadBytes) ?? Buffer.alloc(0));
  const batch =
    stored.batchId === null
      ? null
      : (context.messages.batch(deviceId, stored.streamGroup ?? '', stored.stream ?? '', stored.batchId) ??
        null);
  return {
    deviceId,
    message: {
      ...rest,
      payloadBase64: head.toString('base64'),
      payloadBytes: bytes,
      payloadTruncated: bytes > maxLivePayloadBytes,
    },
    batch,
    droppedMessages: context.messages.dropped(deviceId),
  };
}

/**
 * Undoes what the device did to the payload: externalization through file upload, then Brotli (off the event loop).
 * Returns the decoded payload, or why it could not be decoded. An uploaded payload that is not compressed is the
 * blob's content, referred to rather than read: the PUBACK waits for this, and a payload may be 64 MiB.
 */
async function decodePayload(
  context: EmulatorContext,
  deviceId: string,
  properties: Record<string, string>,
  payload: Buffer,
): Promise<StoredPayload | string> {
  if (properties['ignore-payload'] === 'true') return Buffer.alloc(0);
  let bytes: Buffer = payload;
  if (properties['has-externalized-payload'] === 'true') {
    const content = resolveExternalized(context, deviceId, payload);
    if (typeof content === 'string' || properties['content-encoding'] !== 'br') return content;
    bytes = context.blobs.read(content.id) ?? Buffer.alloc(0);
  }
  if (properties['content-encoding'] === 'br') {
    try {
      bytes = await decompress(bytes, { maxOutputLength: maxDecodedBytes });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        return `content-encoding=br but the payload decodes to more than ${maxDecodedBytes} bytes (the emulator's limit)`;
      }
      return 'content-encoding=br but the payload is not valid Brotli';
    }
  }
  return bytes;
}

function resolveExternalized(
  context: EmulatorContext,
  deviceId: string,
  payload: Buffer,
): BlobContent | string {
  let link: unknown;
  try {
    link = (JSON.parse(payload.toString('utf8')) as { link?: unknown }).link;
  } catch {
    return 'has-externalized-payload=true but the payload is not {"link": …}';
  }
  if (typeof link !== 'string') return 'externalized payload without a link';
  // Blob names are scoped to the device that uploaded them, so a device cannot point at another's file.
  const content =
    link.startsWith(`${hubDeviceId(context, deviceId)}/`) && context.blobs.content(uploadContainer, link);
  return content || `externalized payload ${link} was never uploaded by this device`;
}
