/**
 * The demos' desired configuration (the twin's desired property `samplingIntervalMs`), their reported state and the
 * `identify` method's payload: the same rules on the kiosk and the Node sample device.
 */
export const defaultSamplingIntervalMs = 1000;
export const minSamplingIntervalMs = 100;
export const maxSamplingIntervalMs = 60_000;

export type SamplingSetting = { ok: true; intervalMs: number } | { ok: false; error: string };

/**
 * The sampling interval the desired properties ask for: absent means the default; anything but an integer from
 * 100 to 60000 is refused (the device keeps what it has and reports the error).
 */
export function readSamplingInterval(desired: Record<string, unknown>): SamplingSetting {
  const value = desired.samplingIntervalMs;
  if (value === undefined || value === null) return { ok: true, intervalMs: defaultSamplingIntervalMs };
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < minSamplingIntervalMs ||
    value > maxSamplingIntervalMs
  ) {
    const shown = JSON.stringify(value) ?? String(value);
    return {
      ok: false,
      error: `samplingIntervalMs ${shown.slice(0, 80)} ignored: it must be an integer from ${minSamplingIntervalMs} to ${maxSamplingIntervalMs}`,
    };
  }
  return { ok: true, intervalMs: value };
}

/** The reported patch for a setting: the applied interval and firmware, or the error (the interval stays). */
export function reportedPatch(
  setting: SamplingSetting,
  appliedMs: number,
  firmware: string,
): Record<string, unknown> {
  return setting.ok
    ? { samplingIntervalMs: setting.intervalMs, firmware, lastConfigError: null }
    : { samplingIntervalMs: appliedMs, firmware, lastConfigError: setting.error };
}

/** Whether applying `patch` (a JSON merge patch of flat values) would change `reported`. */
export function changes(reported: Record<string, unknown>, patch: Record<string, unknown>): boolean {
  return Object.entries(patch).some(([key, value]) =>
    value === null ? key in reported : reported[key] !== value,
  );
}

/** `identify`'s payload: `{ seconds?: number }`, default 3, from over 0 up to 60. */
export function readIdentifySeconds(payload: unknown): { seconds: number } | { error: string } {
  if (payload === undefined || payload === null) return { seconds: 3 };
  if (typeof payload !== 'object' || Array.isArray(payload))
    return { error: 'payload must be { seconds?: number }' };
  const seconds = (payload as { seconds?: unknown }).seconds;
  if (seconds === undefined) return { seconds: 3 };
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 60) {
    return { error: 'seconds must be a number above 0 and at most 60' };
  }
  return { seconds };
}
