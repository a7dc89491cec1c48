import type { QueuedCloudMessage } from '../state/cloud-to-device.js';
import { formatPropertyBag } from './property-bag.js';

/** System properties a sender may set, in the order they follow `$.mid` and `$.to` on the topic. */
export const senderSystemProperties = ['$.exp', '$.cid', '$.uid', '$.ct', '$.ce'] as const;

/**
 * The topic a cloud-to-device message reaches the device on, as IoT Hub writes it:
 * `devices/{id}/messages/devicebound/` and a property bag of the system properties (`$.mid`, `$.to`, then those
 * the sender set) followed by the user properties. Keys and values are percent-encoded (`%24.to=%2Fdevices…`).
 */
export function cloudMessageTopic(hubDeviceId: string, message: QueuedCloudMessage): string {
  const bag: Record<string, string> = {
    '$.mid': message.mid,
    '$.to': `/devices/${hubDeviceId}/messages/deviceBound`,
  };
  for (const key of senderSystemProperties) {
    const value = message.properties[key];
    if (value !== undefined) bag[key] = value;
  }
  for (const [key, value] of Object.entries(message.properties)) {
    if (!key.startsWith('$.')) bag[key] = value;
  }
  return `devices/${hubDeviceId}/messages/devicebound/${formatPropertyBag(bag)}`;
}
