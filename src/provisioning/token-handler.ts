/**
 * The token handler: establishes the registration and keeps the registration token and the SAS fresh for the
 * client's life. Over 400 lines (409 before this change; the secrets it now records add the rest): issue 11 plans
 * to take the renewal-pacing decision out as a pure function of (state, now) with its own table of cases, leaving
 * this class to carry it out.
 */
import { abortedError, asSpotflowError, isSpotflowError, type SpotflowError } from '../errors.js';
import type { HubCredentials } from '../iothub/connection-string.js';
import type { CredentialSource } from '../iothub/session.js';
import type { Logger } from '../logger.js';
import type { Clock } from '../ports.js';
import type { StateStore } from '../store/state.js';
import { backoffDelay, sleep } from '../util/backoff.js';
import { Hurry, retrying } from '../util/retry.js';
import type { Secrets } from '../util/secrets.js';
import { sha256Hex } from '../util/sha256.js';
import type { IssuedRegistrationToken, ProvisioningApi } from './api.js';
import { effectiveExpiryUntil } from './expiry.js';
import { type ProvisioningFlowOptions, runProvisioning } from './flow.js';

/** What the database keeps about this device's registration (tokens included: the file is owner-only). */
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
}

const stateKey = 'registration';

/**
 * SAS renewals never come closer together than this (SPEC §3: never hammer the hub), except when a SAS that looked
 * healthy on arrival is due sooner by its own lifetime (SPEC §2 step 4: a 2 s SAS is renewed after 1 s).
 */
const MIN_RENEWAL_INTERVAL_MS = 10_000;
/** Longest wait between renewals after refusals in a row: the device is offline meanwhile. */
const MAX_REFUSED_INTERVAL_MS = 5 * 60_000;
/**
 * Longest wait between renewals of SAS tokens that keep arriving already expired by the device's clock: the hub
 * (whose clock is right) accepts them, and a typical 1 h SAS would be renewed after 30 min anyway.
 */
const MAX_SKEWED_INTERVAL_MS = 30 * 60_000;
/** A SAS with less than this left by the device's clock when it arrives counts as already expired. */
const MIN_SAS_REMAINING_MS = 1000;

/** What this process knows about the current SAS, to pace its renewal. */
interface SasPacing {
  /** `clock.monotonicNow()` when it arrived (when the client started, for one read from the database). */
  arrivedAt: number;
  /** How long after its arrival it is due for renewal by the monotonic clock (Infinity: the wall clock decides). */
  renewAfterMs: number;
  /** It arrived already expired, or the hub refused it: renewing it is a retry, paced by {@link backoffInterval}. */
  struck: boolean;
}

export interface TokenHandlerEvents {
  provisioningRequired(reason: string): void;
  error(error: SpotflowError): void;
}

export interface TokenHandlerOptions extends ProvisioningFlowOptions {
  instance: string;
  /** The client's secrets: the stored tokens join them, so that no server text can carry them into a log. */
  secrets?: Secrets;
}

/**
 * Keeps the device's credentials usable for the life of the client (SPEC §2 step 5): refreshes the registration
 * token before it expires, re-registers for a new SAS before the old one expires and whenever the hub refuses it,
 * and provisions again in the background when the registration token is no longer accepted.
 */
export class TokenHandler implements CredentialSource {
  readonly #stop = new AbortController();
  readonly #listeners = new Set<() => void>();
  #registration!: StoredRegistration;
  #needsProvisioning = false;
  #renewNow = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  /**
   * `clock.monotonicNow()` when the last SAS renewal began. Intervals between renewals are measured on the
   * monotonic clock, because NTP may step the wall clock by hours in either direction.
   */
  #lastRenewalAt: number | undefined;
  #sas: SasPacing;
  /** Renewals in a row that brought no usable SAS (it arrived already expired, or the hub refused it). */
  #strikes = 0;
  /** Whether the current run of already-expired SAS tokens has been logged (once, not at every renewal). */
  #skewReported = false;
  /** Cuts a renewal's retry backoff short when the hub refuses the SAS (proof the network is back). */
  readonly #hurry: Hurry;

  constructor(
    private readonly api: ProvisioningApi,
    private readonly state: StateStore,
    private readonly options: TokenHandlerOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly events: TokenHandlerEvents,
  ) {
    this.#sas = { arrivedAt: clock.monotonicNow(), renewAfterMs: Number.POSITIVE_INFINITY, struck: false };
    this.#hurry = new Hurry(clock);
  }

  get registration(): StoredRegistration {
    return this.#registration;
  }

  /**
   * Start-up: reuse the stored registration when it was made with the same provisioning token, requested device
   * id and instance; otherwise provision now (waiting for approval). A stored registration whose token expired
   * still starts the client at once (offline-first); provisioning then runs in the background.
   */
  async establish(signal: AbortSignal | undefined): Promise<void> {
    const hash = await sha256Hex(this.options.provisioningToken);
    const stored = await this.state.get<StoredRegistration>(stateKey);
    if (
      stored &&
      stored.provisioningTokenHash === hash &&
      stored.requestedDeviceId === (this.options.deviceId ?? null) &&
      stored.instance === this.options.instance
    ) {
      this.#registration = stored;
      this.options.secrets?.add(stored.registrationToken);
      this.options.secrets?.add(stored.hub.sasToken);
      if (
        stored.registrationTokenExpiresAt !== null &&
        stored.registrationTokenExpiresAt <= this.clock.now()
      ) {
        this.log.warn('The stored registration token has expired; provisioning again in the background');
        this.#needsProvisioning = true;
      }
      return;
    }
    const issued = await runProvisioning(this.api, this.options, this.clock, this.log, signal);
    await this.#register(issued, hash, signal);
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#loop;
  }

  async current(): Promise<HubCredentials> {
    return toCredentials(this.#registration);
  }

  async refused(credentials: HubCredentials, signal: AbortSignal): Promise<void> {
    if (credentials.sasToken !== this.#registration.hub.sasToken) return;
    if (!this.#sas.struck) {
      this.#sas.struck = true;
      this.#strikes++;
    }
    this.#renewNow = true;
    this.#wake?.();
    this.#hurry.now();
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        off();
        reject(abortedError(signal));
      };
      const off = this.onChange(() => {
        off();
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Forces provisioning again (used when the platform revoked the registration token). */
  requireProvisioning(reason: string): void {
    if (this.#needsProvisioning) return;
    this.#needsProvisioning = true;
    this.log.warn('Provisioning required', { reason });
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    // Begin on a later task, not synchronously inside start(): `DeviceClient.start` resolves first, so a listener
    // its caller adds at once still hears the `provisioningRequired` of a registration that expired offline.
    await sleep(this.clock, 0, signal).catch(() => {});
    let attempt = 0;
    while (!signal.aborted) {
      try {
        if (this.#needsProvisioning) {
          this.events.provisioningRequired('the registration token is no longer valid');
          const issued = await runProvisioning(this.api, this.options, this.clock, this.log, signal);
          await this.#register(issued, this.#registration.provisioningTokenHash, signal);
          this.#needsProvisioning = false;
        } else if (this.#renewNow || this.#sasDueIn() <= 0) {
          await this.#paceRenewal(signal);
          await this.#renewSas(signal);
        } else if (
          this.#registration.registrationTokenRenewAt !== null &&
          this.clock.now() >= this.#registration.registrationTokenRenewAt
        ) {
          await this.#refreshRegistrationToken(signal);
        } else {
          await this.#sleepUntilDue(signal);
        }
        attempt = 0;
      } catch (error) {
        if (signal.aborted) return;
        if (isSpotflowError(error, 'REGISTRATION_INVALID')) {
          this.requireProvisioning(error.message);
          continue;
        }
        this.events.error(asSpotflowError(error, 'Token handler failed'));
        await sleep(this.clock, backoffDelay(attempt++, { initialMs: 2000, maxMs: 300_000 }), signal).catch(
          () => {},
        );
      }
    }
  }

  async #renewSas(signal: AbortSignal): Promise<void> {
    this.#lastRenewalAt = this.clock.monotonicNow();
    const registration = await retrying(
      () => this.api.register(this.#registration.registrationToken, signal),
      this.clock,
      this.log,
      signal,
      this.#hurry,
    );
    const now = this.clock.now();
    const { hub, pacing } = this.#arrived(registration.credentials, now);
    const next: StoredRegistration = { ...this.#registration, hub };
    if (registration.registrationTokenLifetimeMs !== undefined && next.registrationTokenExpiresAt === null) {
      next.registrationTokenExpiresAt = now + registration.registrationTokenLifetimeMs;
      next.registrationTokenRenewAt = effectiveExpiryUntil(now, next.registrationTokenExpiresAt);
    }
    this.#renewNow = false;
    await this.#store(next, pacing);
    // Not `sasExpiresAt`: the logger redacts fields whose name mentions a SAS.
    this.log.info('Hub credentials renewed', { expiresAt: new Date(next.hub.sasExpiresAt).toISOString() });
  }

  async #refreshRegistrationToken(signal: AbortSignal): Promise<void> {
    const issued = await retrying(
      () => this.api.refresh(this.options.provisioningToken, this.#registration.registrationToken, signal),
      this.clock,
      this.log,
      signal,
    );
    await this.#store({ ...this.#registration, ...tokenFields(issued, this.clock.now()) });
    this.log.info('Registration token refreshed');
  }

  async #register(
    issued: IssuedRegistrationToken,
    hash: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const registration = await retrying(
      () => this.api.register(issued.registrationToken, signal),
      this.clock,
      this.log,
      signal,
    );
    const now = this.clock.now();
    const token = tokenFields(issued, now);
    if (token.registrationTokenExpiresAt === null && registration.registrationTokenLifetimeMs !== undefined) {
      token.registrationTokenExpiresAt = now + registration.registrationTokenLifetimeMs;
      token.registrationTokenRenewAt = effectiveExpiryUntil(now, token.registrationTokenExpiresAt);
    }
    const { hub, pacing } = this.#arrived(registration.credentials, now);
    await this.#store(
      {
        instance: this.options.instance,
        provisioningTokenHash: hash,
        requestedDeviceId: this.options.deviceId ?? null,
        ...token,
        hub,
      },
      pacing,
    );
    this.log.info('Device registered', {
      workspaceId: registration.credentials.workspaceId,
      deviceId: registration.credentials.deviceId,
    });
  }

  /** Stores `next`; `pacing` describes its SAS when one just arrived (not when only the registration token changed). */
  async #store(next: StoredRegistration, pacing?: SasPacing): Promise<void> {
    await this.state.set(stateKey, next);
    const changed = this.#registration === undefined || this.#registration.hub.sasToken !== next.hub.sasToken;
    this.#registration = next;
    if (pacing) this.#adopt(pacing, next.hub.sasExpiresAt);
    if (!changed) return;
    // Any new SAS answers a refusal of the old one, also one obtained by provisioning again: renewing once more
    // would cost a needless register and reconnect, after the hammering guard held the loop for 10 s or more.
    this.#renewNow = false;
    for (const listener of [...this.#listeners]) listener();
  }

  /**
   * The hub part of the registration for a SAS that just arrived, and how to pace its renewal. A SAS whose expiry
   * is already past (or less than a second away) by the device's clock means the clock is ahead of the platform's
   * by more than the SAS lifetime, or the platform sent a past expiry. Its real lifetime is unknown (`se` minus the
   * platform's idea of now), so it is kept (the hub decides whether it accepts it) and renewed after the backoff
   * interval, not at once: renewing at once would loop, each new SAS looking expired too, each one a reconnect.
   */
  #arrived(credentials: HubCredentials, now: number): { hub: StoredRegistration['hub']; pacing: SasPacing } {
    const sasExpiresAt = credentials.sasExpiresAt.getTime();
    const arrivedAt = this.clock.monotonicNow();
    if (sasExpiresAt - now >= MIN_SAS_REMAINING_MS) {
      const sasRenewAt = effectiveExpiryUntil(now, sasExpiresAt);
      return {
        hub: { ...credentials, sasExpiresAt, sasRenewAt },
        pacing: { arrivedAt, renewAfterMs: sasRenewAt - now, struck: false },
      };
    }
    const renewAfterMs = backoffInterval(this.#strikes + 1, MAX_SKEWED_INTERVAL_MS);
    return {
      hub: { ...credentials, sasExpiresAt, sasRenewAt: now + renewAfterMs },
      pacing: { arrivedAt, renewAfterMs, struck: true },
    };
  }

  #adopt(pacing: SasPacing, sasExpiresAt: number): void {
    this.#sas = pacing;
    if (!pacing.struck) {
      this.#skewReported = false;
      return;
    }
    this.#strikes++;
    if (this.#skewReported) return;
    this.#skewReported = true;
    this.log.warn(
      "The hub credentials arrived already expired by this device's clock: the clock is probably ahead of the " +
        "platform's. Using them anyway and renewing them with backoff; set the device's clock (NTP) to fix this",
      {
        expiresAt: new Date(sasExpiresAt).toISOString(),
        deviceClock: new Date(this.clock.now()).toISOString(),
        renewInMs: pacing.renewAfterMs,
      },
    );
  }

  /** How long until the SAS is due for renewal: by the wall clock or by the monotonic one, whichever says sooner. */
  #sasDueIn(): number {
    return Math.min(
      this.#registration.hub.sasRenewAt - this.clock.now(),
      this.#sas.arrivedAt + this.#sas.renewAfterMs - this.clock.monotonicNow(),
    );
  }

  /**
   * Never hammer the hub (SPEC §3): every renewal, scheduled or after a refusal, starts no sooner than a minimum
   * interval after the previous one, measured on the monotonic clock (with the wall clock, NTP stepping it back
   * made the wait as long as the step) and never longer than that interval. The interval is 10 s, doubling with
   * each renewal in a row that brought no usable SAS; a healthy SAS with a shorter lifetime keeps its own schedule.
   */
  async #paceRenewal(signal: AbortSignal): Promise<void> {
    // A SAS that lived to its renewal time without being refused ends any run of failed renewals.
    if (!this.#renewNow && !this.#sas.struck) this.#strikes = 0;
    if (this.#lastRenewalAt === undefined) return;
    const interval =
      this.#renewNow || this.#sas.struck
        ? backoffInterval(this.#strikes, this.#renewNow ? MAX_REFUSED_INTERVAL_MS : MAX_SKEWED_INTERVAL_MS)
        : Math.min(MIN_RENEWAL_INTERVAL_MS, this.#sas.renewAfterMs);
    const wait = Math.min(
      Math.max(interval - (this.clock.monotonicNow() - this.#lastRenewalAt), 0),
      interval,
    );
    if (wait > 0) await sleep(this.clock, wait, signal);
  }

  async #sleepUntilDue(signal: AbortSignal): Promise<void> {
    const due = Math.min(
      this.#sasDueIn(),
      (this.#registration.registrationTokenRenewAt ?? Number.POSITIVE_INFINITY) - this.clock.now(),
    );
    // Wake at least every minute: the wall clock may jump (NTP after boot) and timers do not follow it.
    const delay = Math.max(0, Math.min(due, 60_000));
    const clock = this.clock;
    await new Promise<void>((resolve) => {
      const timer = clock.setTimeout(done, delay);
      // The listener goes with the wait: the signal lives as long as the client and this runs at every renewal.
      function done() {
        clock.clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      this.#wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
    this.#wake = undefined;
  }
}

function tokenFields(issued: IssuedRegistrationToken, now: number) {
  const expiresAt = issued.expiresAt ?? null;
  return {
    registrationToken: issued.registrationToken,
    registrationTokenExpiresAt: expiresAt,
    registrationTokenRenewAt: expiresAt === null ? null : effectiveExpiryUntil(now, expiresAt),
  };
}

/** 10 s for the first renewal in a row that brought no usable SAS, doubling with each more, up to `maxMs`. */
function backoffInterval(strikes: number, maxMs: number): number {
  return Math.min(maxMs, MIN_RENEWAL_INTERVAL_MS * 2 ** Math.max(0, strikes - 1));
}

function toCredentials(registration: StoredRegistration): HubCredentials {
  return { ...registration.hub, sasExpiresAt: new Date(registration.hub.sasExpiresAt) };
}
