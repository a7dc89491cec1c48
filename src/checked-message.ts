/**
 * A message as the calls that take one check it: the payload's bytes (a private copy) and its properties and
 * compression, read from the options. Checked where the call was made, so a bad argument is refused there, including
 * in a browser context whose client relays its calls to another (the shared client).
 */
import { payloadBytes } from './call-arguments.js';
import { abortedError, invalidArgument } from './errors.js';
import {
  batchCompletionKeys,
  messageCompletionKeys,
  messageOptionKeys,
  readMessageOptions,
  sendMessageOptionKeys,
} from './outbox/message-options.js';
import type { NewEntry } from './outbox/store.js';

export type CheckedMessage = NewEntry;

/** `enqueueMessage(payload, options)`'s message. */
export function checkMessage(payload: unknown, options: unknown): CheckedMessage {
  const { properties, compression } = readMessageOptions(options, messageOptionKeys);
  return { payload: payloadBytes(payload), properties, compression };
}

/** `enqueueBatchCompletion(options)`'s message: `complete-batch=true`, no payload. */
export function checkBatchCompletion(options: unknown): CheckedMessage {
  return completion(options, batchCompletionKeys, 'batchId', { completeBatch: true });
}

/** `enqueueMessageCompletion(options)`'s message: `complete-message=true`, no payload. */
export function checkMessageCompletion(options: unknown): CheckedMessage {
  return completion(options, messageCompletionKeys, 'messageId', { completeMessage: true });
}

function completion(
  options: unknown,
  allowed: readonly string[],
  required: 'batchId' | 'messageId',
  flag: { completeBatch: true } | { completeMessage: true },
): CheckedMessage {
  const { properties } = readMessageOptions(options, allowed, [required]);
  return {
    payload: new Uint8Array(),
    properties: { ...properties, ...flag, ignorePayload: true },
    compression: 'none',
  };
}

/** `sendMessage(payload, options)`'s message and the signal that ends its wait (refused if already aborted). */
export function checkSendMessage(
  payload: unknown,
  options: unknown,
): { message: CheckedMessage; signal: AbortSignal | undefined } {
  const { properties, compression } = readMessageOptions(options, sendMessageOptionKeys);
  const signal = (options as { signal?: unknown } | undefined)?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw invalidArgument('signal must be an AbortSignal');
  if (signal?.aborted) throw abortedError(signal);
  return { message: { payload: payloadBytes(payload), properties, compression }, signal };
}
