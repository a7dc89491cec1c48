import { invalidArgument } from '../errors.js';
import { type MessageProperties, validatePropertyValue } from '../iothub/property-bag.js';
import type { Compression } from './store.js';

/** The message properties a caller sets (the rest — encoding, externalization, completion, `$.mid` — the SDK sets). */
const propertyNames = [
  'streamGroup',
  'stream',
  'siteId',
  'batchId',
  'batchSliceId',
  'messageId',
  'chunkId',
] as const satisfies readonly (keyof MessageProperties)[];
type PropertyName = (typeof propertyNames)[number];

/** Options of `enqueueMessage` and `sendMessage`: where the message lands and how it is grouped (SPEC §3). */
export interface MessageOptions extends Pick<MessageProperties, PropertyName> {
  /** `fastest` = Brotli quality 1, `smallest` = 11; used only when the result is smaller. Default `none`. */
  compression?: Compression;
}

/** Options of `enqueueBatchCompletion`: the batch to close. */
export type BatchCompletionOptions = Pick<MessageProperties, 'streamGroup' | 'stream'> & {
  /** The batch to close. */
  batchId: string;
};

/** Options of `enqueueMessageCompletion`: the chunked message to close. */
export type MessageCompletionOptions = Pick<MessageProperties, 'streamGroup' | 'stream' | 'batchId'> & {
  /** The chunked message to close. */
  messageId: string;
};

/**
 * Checks options at the call, before anything is stored: only known keys, property values that are safe in a
 * topic, a known compression. Returns the message's properties and compression.
 */
export function readMessageOptions(
  options: unknown,
  allowed: readonly string[],
  required: readonly PropertyName[] = [],
): { properties: MessageProperties; compression: Compression } {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgument('Message options must be an object');
  }
  // Only own keys are checked, so a Map (no own keys; its entries are not properties) or another class instance
  // would pass as "no options" and its content would be silently ignored.
  const prototype: unknown = Object.getPrototypeOf(options);
  if (prototype !== Object.prototype && prototype !== null) {
    throw invalidArgument('Message options must be a plain object');
  }
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!allowed.includes(key))
      throw invalidArgument(`Unknown message option ${JSON.stringify(key.slice(0, 64))}`);
  }
  const properties: MessageProperties = {};
  for (const name of propertyNames) {
    const value = given[name];
    if (value === undefined) {
      if (required.includes(name)) throw invalidArgument(`${name} is required`);
      continue;
    }
    validatePropertyValue(name, value);
    properties[name] = value;
  }
  // Only `undefined` means the default: `null` is refused like a null property value is.
  const compression = given.compression === undefined ? 'none' : given.compression;
  if (compression !== 'none' && compression !== 'fastest' && compression !== 'smallest') {
    throw invalidArgument("compression must be 'none', 'fastest' or 'smallest'");
  }
  return { properties, compression };
}

export const messageOptionKeys = [...propertyNames, 'compression'];
export const sendMessageOptionKeys = [...messageOptionKeys, 'signal'];
export const batchCompletionKeys = ['streamGroup', 'stream', 'batchId'];
export const messageCompletionKeys = ['streamGroup', 'stream', 'batchId', 'messageId'];
