/**
 * IoT Hub property bags: the `key=value&key=value` tail of a telemetry topic that tells the Spotflow platform where
 * a message lands and how it is grouped (SPEC.md §3), and the same format at the end of cloud-to-device topics.
 */
import { invalidArgument, SpotflowError } from '../errors.js';

/** The properties of one device-to-cloud message, named as the SDK's API names them. */
export interface MessageProperties {
  /** `stream-group-name`; omitted = the workspace's default stream group. */
  streamGroup?: string;
  /** `stream-name`; omitted = the stream group's default stream. */
  stream?: string;
  /** `site-id`. */
  siteId?: string;
  /** `batch-id`. */
  batchId?: string;
  /** `batch-slice-id`. */
  batchSliceId?: string;
  /** `message-id`: the logical message a chunk belongs to. */
  messageId?: string;
  /** `chunk-id`. */
  chunkId?: string;
  /** `content-encoding=br` when the payload was Brotli-compressed. */
  contentEncoding?: 'br';
  /** `has-externalized-payload=true` when the payload went through file upload. */
  externalized?: boolean;
  /** `complete-batch=true`: this message closes its batch. */
  completeBatch?: boolean;
  /** `complete-message=true`: this message closes a chunked message. */
  completeMessage?: boolean;
  /** `ignore-payload=true`: the platform ignores the payload (completion markers). */
  ignorePayload?: boolean;
  /** `$.mid`: the outbox entry's stable id, so a resent duplicate is recognisable. */
  mid?: string;
}

/**
 * Bag key of every property, in the order they are written. A fixed order makes topics of equal messages equal,
 * which keeps tests and logs readable.
 */
export const PROPERTY_BAG_KEYS = Object.freeze({
  streamGroup: 'stream-group-name',
  stream: 'stream-name',
  siteId: 'site-id',
  batchId: 'batch-id',
  batchSliceId: 'batch-slice-id',
  messageId: 'message-id',
  chunkId: 'chunk-id',
  contentEncoding: 'content-encoding',
  externalized: 'has-externalized-payload',
  completeBatch: 'complete-batch',
  completeMessage: 'complete-message',
  ignorePayload: 'ignore-payload',
  mid: '$.mid',
} as const satisfies Record<keyof MessageProperties, string>);

const propertyOrder = Object.keys(PROPERTY_BAG_KEYS) as (keyof MessageProperties)[];

/**
 * Writes the property bag of a message: URL-encoded values, `&`-joined, in {@link PROPERTY_BAG_KEYS} order;
 * undefined (and `false`) properties are left out. Keys are fixed, topic-safe constants and are written as they
 * are (so `$.mid` stays `$.mid`, as IoT Hub documents it).
 *
 * Values are expected to have passed {@link validatePropertyValue} at the call that supplied them.
 */
export function encodePropertyBag(properties: MessageProperties): string {
  const parts: string[] = [];
  for (const name of propertyOrder) {
    const value = properties[name];
    if (value === undefined || value === false) continue;
    const text = value === true ? 'true' : value;
    parts.push(`${PROPERTY_BAG_KEYS[name]}=${encodeURIComponent(text)}`);
  }
  return parts.join('&');
}

/** The MQTT topic a telemetry message is published to: `devices/{hubDeviceId}/messages/events/{bag}`. */
export function telemetryTopic(hubDeviceId: string, properties: MessageProperties): string {
  return `devices/${hubDeviceId}/messages/events/${encodePropertyBag(properties)}`;
}

/**
 * Telemetry topics of messages that differ only in `$.mid`, the last key of every bag: what comes before it is
 * encoded once per properties object (the outbox hands out one shared, frozen object per distinct set), so the
 * sender's per-message work is one string concatenation.
 */
export class TelemetryTopics {
  readonly #prefixes = new WeakMap<MessageProperties, { hubDeviceId: string; prefix: string }>();

  /** `telemetryTopic(hubDeviceId, { ...properties, mid })`; `properties` must not hold `mid` and must not change. */
  of(hubDeviceId: string, properties: MessageProperties, mid: string): string {
    let cached = this.#prefixes.get(properties);
    if (cached?.hubDeviceId !== hubDeviceId) {
      const bag = encodePropertyBag(properties);
      const prefix = `devices/${hubDeviceId}/messages/events/${bag}${bag === '' ? '' : '&'}${PROPERTY_BAG_KEYS.mid}=`;
      cached = { hubDeviceId, prefix };
      this.#prefixes.set(properties, cached);
    }
    return cached.prefix + encodeURIComponent(mid);
  }
}

/**
 * Reads a property bag received from the hub (for example the tail of a cloud-to-device topic). Empty parts are
 * skipped, a part without `=` has the value `''`, and a repeated key keeps its last value. `+` is not a space
 * here: IoT Hub percent-encodes.
 *
 * @throws SpotflowError `PROTOCOL` when a key is empty or the percent-encoding is malformed; the message does not
 * quote the bag.
 */
export function parsePropertyBag(bag: string): Record<string, string> {
  const properties: Record<string, string> = {};
  const parts = bag.split('&');
  for (const [index, part] of parts.entries()) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decodeBagComponent(eq < 0 ? part : part.slice(0, eq), index);
    const value = eq < 0 ? '' : decodeBagComponent(part.slice(eq + 1), index);
    if (key === '')
      throw new SpotflowError('PROTOCOL', `Malformed property bag: part ${index + 1} has no key`);
    // defineProperty, so that a key such as `__proto__` becomes a plain own property.
    Object.defineProperty(properties, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return properties;
}

function decodeBagComponent(text: string, index: number): string {
  try {
    return decodeURIComponent(text);
  } catch (error) {
    throw new SpotflowError('PROTOCOL', `Malformed property bag: bad percent-encoding in part ${index + 1}`, {
      cause: error,
    });
  }
}

/** The longest property value accepted, in characters (Unicode code points). */
export const MAX_PROPERTY_VALUE_LENGTH = 256;

// \p{Cc}: C0 controls, DEL and C1 controls. \p{Cs} in a `u` regex matches only unpaired surrogates, which
// encodeURIComponent cannot encode (it would throw later, in the background, instead of now).
const forbiddenCharacter = /[\p{Cc}\p{Cs}]/u;

/**
 * Checks a user-supplied property value (stream group, stream, site, batch, slice, message or chunk id) at the
 * call, before anything is stored: it ends up inside an MQTT topic, so it must be a non-empty string of at most
 * {@link MAX_PROPERTY_VALUE_LENGTH} characters with no control characters and no unpaired surrogates.
 *
 * @param name the option's name, used in the error message (the value itself is not quoted).
 * @throws SpotflowError `INVALID_ARGUMENT`
 */
export function validatePropertyValue(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') {
    throw invalidArgument(`${name} must be a string, got ${value === null ? 'null' : typeof value}`);
  }
  if (value === '') throw invalidArgument(`${name} must not be empty`);
  if (value.length > MAX_PROPERTY_VALUE_LENGTH && countCodePoints(value) > MAX_PROPERTY_VALUE_LENGTH) {
    throw invalidArgument(`${name} must be at most ${MAX_PROPERTY_VALUE_LENGTH} characters long`);
  }
  if (forbiddenCharacter.test(value)) {
    throw invalidArgument(`${name} must not contain control characters or unpaired surrogates`);
  }
}

function countCodePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
