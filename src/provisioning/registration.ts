/**
 * The device's registration as the database keeps it, and how answers of the platform turn into it. Pure: the
 * token handler decides when to ask, and stores what these return.
 */
import type { HubCredentials } from '../iothub/connection-string.js';
import type { IssuedRegistrationToken } from './api.js';
import { effectiveExpiryUntil } from './expiry.js';
import { tokenArrival } from './renewal-plan.js';

/**
 * What the database keeps about this device's registration (tokens included: the file is owner-only). Every time
 * in it is on the platform's clock, never the device's.
 */
export interface StoredRegistration {
  instance: string;
  provisioningTokenHash: string;
  requestedDeviceId: string | null;
  registrationToken: string;
  /** Absolute expiry of the registration token (ms epoch); null = it does not expire. */
  registrationTokenExpiresAt: number | null;
  /** When to refresh it (skew-tolerant, SPEC §2 step 4). */
  registrationTokenRenewAt: number | null;
  hub: Omit<HubCredentials, 'sasExpiresAt'> & { sasExpiresAt: number; sasRenewAt: number };
  /**
   * The platform's time minus the device's wall time when last known (absent in databases of earlier versions): the
   * next start's guess of the platform's time until an answer tells it.
   */
  platformOffsetMs?: number;
}

type TokenFields = Pick<
  StoredRegistration,
  'registrationToken' | 'registrationTokenExpiresAt' | 'registrationTokenRenewAt'
>;

/** The `state` key the registration is stored under. */
export const registrationKey = 'registration';

/** Whether `stored` was made for this provisioning token, requested device id and instance (else: provision). */
export function isReusable(
  stored: StoredRegistration,
  wanted: { provisioningTokenHash: string; deviceId: string | undefined; instance: string },
): boolean {
  return (
    stored.provisioningTokenHash === wanted.provisioningTokenHash &&
    stored.requestedDeviceId === (wanted.deviceId ?? null) &&
    stored.instance === wanted.instance
  );
}

/**
 * The registration-token fields of a token the platform just issued, at platform time `now`, and whether it arrived
 * already expired (`strikes`: how many in a row did before it; see {@link tokenArrival}).
 */
export function tokenFields(
  issued: IssuedRegistrationToken,
  now: number,
  strikes = 0,
): { token: TokenFields; struck: boolean } {
  const expiresAt = issued.expiresAt ?? null;
  const { renewAt, struck } = tokenArrival(expiresAt, strikes, now);
  return {
    token: {
      registrationToken: issued.registrationToken,
      registrationTokenExpiresAt: expiresAt,
      registrationTokenRenewAt: renewAt,
    },
    struck,
  };
}

/**
 * `token` with the lifetime a `register` answer gave it, when the token itself told none (a platform may state
 * the lifetime only there).
 */
export function withLifetime<T extends TokenFields>(
  token: T,
  lifetimeMs: number | undefined,
  now: number,
): T {
  if (token.registrationTokenExpiresAt !== null || lifetimeMs === undefined) return token;
  const expiresAt = now + lifetimeMs;
  return {
    ...token,
    registrationTokenExpiresAt: expiresAt,
    registrationTokenRenewAt: effectiveExpiryUntil(now, expiresAt),
  };
}

export function toCredentials(registration: StoredRegistration): HubCredentials {
  return { ...registration.hub, sasExpiresAt: new Date(registration.hub.sasExpiresAt) };
}
