import { brotliDecompressSync } from 'node:zlib';
import { type EmulatorContext, hubDeviceId, maxTelemetryBytes } from '../context.js';
import { uploadContainer } from '../http/hub-files.js';
import type { StoredMessage } from '../state/messages.js';
import { parsePropertyBag } from './property-bag.js';

/** Decompressed payloads larger than this are refused (a Brotli bomb must not take the emulator down). */
const maxDecodedBytes = 64 * 1024 * 1024;

/** Why a publish was refused; IoT Hub answers these by closing the connection. */
export class TelemetryRejected extends Error {}

/**
 * Stores one device-to-cloud message published to `devices/{hubId}/messages/events/{propertyBag}`.
 * Runs before the PUBACK is sent, so an acknowledged message is always stored.
 */
export function ingestTelemetry(
  context: EmulatorContext,
  deviceId: string,
  bag: string,
  topicBytes: number,
  payload: Buffer,
): StoredMessage {
  if (topicBytes + payload.length > maxTelemetryBytes) {
    throw new TelemetryRejected(`message of ${topicBytes + payload.length} bytes exceeds 256 KB`);
  }
  const properties = parsePropertyBag(bag);
  if (!properties) throw new TelemetryRejected('malformed property bag');
  const decoded = decodePayload(context, deviceId, properties, payload);
  // IoT Hub itself never decodes; the emulator does, and keeps what it could not decode visible instead of
  // refusing it (a refused message would come back from the device forever).
  if (typeof decoded === 'string') properties['x-emulator-decode-error'] = decoded;
  const text = (key: string) => properties[key] ?? null;
  return context.messages.add(
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
}

/**
 * Undoes what the device did to the payload: externalization through file upload, then Brotli.
 * Returns the decoded bytes, or why they could not be decoded.
 */
function decodePayload(
  context: EmulatorContext,
  deviceId: string,
  properties: Record<string, string>,
  payload: Buffer,
): Buffer | string {
  if (properties['ignore-payload'] === 'true') return Buffer.alloc(0);
  let bytes: Buffer | string = payload;
  if (properties['has-externalized-payload'] === 'true') {
    bytes = resolveExternalized(context, deviceId, payload);
    if (typeof bytes === 'string') return bytes;
  }
  if (properties['content-encoding'] === 'br') {
    try {
      bytes = brotliDecompressSync(bytes, { maxOutputLength: maxDecodedBytes });
    } catch {
      return 'content-encoding=br but the payload is not valid Brotli';
    }
  }
  return bytes;
}

function resolveExternalized(context: EmulatorContext, deviceId: string, payload: Buffer): Buffer | string {
  let link: unknown;
  try {
    link = (JSON.parse(payload.toString('utf8')) as { link?: unknown }).link;
  } catch {
    return 'has-externalized-payload=true but the payload is not {"link": …}';
  }
  if (typeof link !== 'string') return 'externalized payload without a link';
  // Blob names are scoped to the device that uploaded them, so a device cannot point at another's file.
  const content =
    link.startsWith(`${hubDeviceId(context, deviceId)}/`) && context.blobs.get(uploadContainer, link);
  return content || `externalized payload ${link} was never uploaded by this device`;
}
