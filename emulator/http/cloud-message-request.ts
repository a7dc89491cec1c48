import { senderSystemProperties } from '../mqtt/cloud-message-topic.js';
import { defaultCloudMessageTtlMs, maxCloudMessageTtlMs } from '../state/cloud-to-device.js';
import { HttpProblem } from './problem.js';

/** What a `POST …/c2d-messages` query asks for. */
export interface CloudMessageRequest {
  /** User properties and the sender's system properties, as they will reach the device. */
  properties: Record<string, string>;
  /** When the message expires (ms since the epoch). */
  expiresAt: number;
}

const settable = new Set<string>(['$.mid', ...senderSystemProperties]);

/**
 * Reads the query of a C2D send: user properties, plus the system properties a service may set on IoT Hub
 * (`$.mid`, `$.cid`, `$.uid`, `$.ct`, `$.ce`, and `$.exp`, the absolute expiry time). `$.to` and other `$.` names
 * are the hub's own and refused. Without `$.exp` the message lives IoT Hub's default hour; at most two days.
 */
export function cloudMessageRequest(query: URLSearchParams, now: number): CloudMessageRequest {
  for (const key of query.keys()) {
    if (key.startsWith('$.') && !settable.has(key)) {
      throw new HttpProblem(400, 'Invalid property', `${key} is set by the hub, not by the sender`);
    }
  }
  // fromEntries keeps a `__proto__` parameter an ordinary property.
  const properties: Record<string, string> = Object.fromEntries(query);
  let expiresAt = now + defaultCloudMessageTtlMs;
  const expiry = properties['$.exp'];
  if (expiry !== undefined) {
    expiresAt = Date.parse(expiry);
    if (!Number.isFinite(expiresAt) || expiresAt <= now || expiresAt > now + maxCloudMessageTtlMs) {
      throw new HttpProblem(400, 'Invalid $.exp', '$.exp must be an ISO 8601 time within the next two days');
    }
    properties['$.exp'] = new Date(expiresAt).toISOString();
  }
  return { properties, expiresAt };
}
