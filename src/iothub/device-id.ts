/**
 * The device-id rule shared by the SDK (refusing a bad `deviceId` at `start`) and the emulator (refusing it as the
 * platform does): IoT Hub's characters without `%`, `/`, `#` or `+`, which would break URLs and MQTT topics.
 */
const deviceIdPattern = /^[A-Za-z0-9\-._*?!(),:=@$']{1,128}$/;

export const deviceIdRule = "1-128 letters, digits and -._*?!(),:=@$'";

export function isValidDeviceId(value: unknown): value is string {
  return typeof value === 'string' && deviceIdPattern.test(value);
}
