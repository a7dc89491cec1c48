/**
 * spotflow-device: the portable core's public API. Runtime entries (`spotflow-device` resolves to the Node or the
 * browser one) re-export this with a `DeviceClient` whose `start` knows its platform.
 *
 * @module spotflow-device/core
 */
export { maxPayloadBytes } from './call-arguments.js';
export { DeviceClient, type PlatformRequired } from './client.js';
export type { DeviceClientEvents } from './client-events.js';
export type {
  CloudMessage,
  CloudMessageHandler,
  MethodHandler,
  MethodResponse,
} from './cloud-messages/cloud-messages.js';
export { isSpotflowError, SPOTFLOW_ERROR_CODES, SpotflowError, type SpotflowErrorCode } from './errors.js';
export type { MessageProperties } from './iothub/property-bag.js';
export { consoleLogger, type Logger, type LogLevel } from './logger.js';
export type {
  DesiredProperties,
  OutboxLimits,
  OutboxPolicy,
  ProvisioningOperation,
  StartOptions,
  StoreStartOptions,
} from './options.js';
export type {
  BatchCompletionOptions,
  MessageCompletionOptions,
  MessageOptions,
} from './outbox/message-options.js';
export type { Compression, Dropped } from './outbox/store.js';
export type { UploadProgress } from './outbox/upload.js';
export type * from './ports.js';
export { DeviceStore, type DeviceStorePlatform } from './store/device-store.js';
export type { JsonObject, JsonValue } from './twin/merge-patch.js';
export type { ReportedProperties } from './twin/twin.js';
export type { BinaryPayload, JsonCompatible, MessagePayload } from './util/json.js';
