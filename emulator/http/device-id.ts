/**
 * Which device ids the platform accepts: IoT Hub's device-id characters less `%`, `/`, `#` and `+` (they would
 * break URLs and MQTT topic filters), 1 to 128 of them. The emulator's own copy of the rule; the SDK checks it too,
 * and test/emulator/core-agreement.test.ts holds the two together.
 */
export const deviceIdRule = "1-128 letters, digits and -._*?!(),:=@$'";

const allowed = /^[-A-Za-z0-9._*?!(),:=@$']+$/;

export function isValidDeviceId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= 128 && allowed.test(value);
}
