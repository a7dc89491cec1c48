import { abortedError, isSpotflowError, SpotflowError } from '../errors.js';
import type { HubCredentials } from '../iothub/connection-string.js';
import type { CredentialSource } from '../iothub/session.js';
import type { Logger } from '../logger.js';
import type { Clock } from '../ports.js';
import type { StateStore } from '../store/state.js';
import { backoffDelay, sleep } from '../util/backoff.js';
import { sha256Hex } from '../util/uuid.js';
import type { IssuedRegistrationToken, ProvisioningApi } from './api.js';
import { effectiveExpiryUntil } from './expiry.js';
import { Hurry, type ProvisioningFlowOptions, retrying, runProvisioning } from './flow.js';

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

export interface TokenHandlerEvents {
  provisioningRequired(reason: string): void;
  error(error: SpotflowError): void;
}

export interface TokenHandlerOptions extends ProvisioningFlowOptions {
  instance: string;
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
  #lastRenewal = 0;
  /** Cuts a renewal's retry backoff short when the hub refuses the SAS (proof the network is back). */
  readonly #hurry = new Hurry();

  constructor(
    private readonly api: ProvisioningApi,
    private readonly state: StateStore,
    private readonly options: TokenHandlerOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly events: TokenHandlerEvents,
  ) {}

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
    await sleep(0, signal).catch(() => {});
    let attempt = 0;
    while (!signal.aborted) {
      try {
        if (this.#needsProvisioning) {
          this.events.provisioningRequired('the registration token is no longer valid');
          const issued = await runProvisioning(this.api, this.options, this.clock, this.log, signal);
          await this.#register(issued, this.#registration.provisioningTokenHash, signal);
          this.#needsProvisioning = false;
        } else if (this.#renewNow || this.clock.now() >= this.#registration.hub.sasRenewAt) {
          await this.#avoidHammering(signal);
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
        this.events.error(
          isSpotflowError(error)
            ? error
            : new SpotflowError('INTERNAL', 'Token handler failed', { cause: error }),
        );
        await sleep(backoffDelay(attempt++, { initialMs: 2000, maxMs: 300_000 }), signal).catch(() => {});
      }
    }
  }

  async #renewSas(signal: AbortSignal): Promise<void> {
    this.#lastRenewal = this.clock.now();
    const registration = await retrying(
      () => this.api.register(this.#registration.registrationToken, signal),
      this.log,
      signal,
      this.#hurry,
    );
    const now = this.clock.now();
    const next: StoredRegistration = {
      ...this.#registration,
      hub: hubOf(registration.credentials, now),
    };
    if (registration.registrationTokenLifetimeMs !== undefined && next.registrationTokenExpiresAt === null) {
      next.registrationTokenExpiresAt = now + registration.registrationTokenLifetimeMs;
      next.registrationTokenRenewAt = effectiveExpiryUntil(now, next.registrationTokenExpiresAt);
    }
    this.#renewNow = false;
    await this.#store(next);
    this.log.info('Hub credentials renewed', { sasExpiresAt: new Date(next.hub.sasExpiresAt).toISOString() });
  }

  async #refreshRegistrationToken(signal: AbortSignal): Promise<void> {
    const issued = await retrying(
      () => this.api.refresh(this.options.provisioningToken, this.#registration.registrationToken, signal),
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
      this.log,
      signal,
    );
    const now = this.clock.now();
    const token = tokenFields(issued, now);
    if (token.registrationTokenExpiresAt === null && registration.registrationTokenLifetimeMs !== undefined) {
      token.registrationTokenExpiresAt = now + registration.registrationTokenLifetimeMs;
      token.registrationTokenRenewAt = effectiveExpiryUntil(now, token.registrationTokenExpiresAt);
    }
    await this.#store({
      instance: this.options.instance,
      provisioningTokenHash: hash,
      requestedDeviceId: this.options.deviceId ?? null,
      ...token,
      hub: hubOf(registration.credentials, now),
    });
    this.log.info('Device registered', {
      workspaceId: registration.credentials.workspaceId,
      deviceId: registration.credentials.deviceId,
    });
  }

  async #store(next: StoredRegistration): Promise<void> {
    await this.state.set(stateKey, next);
    const changed = this.#registration === undefined || this.#registration.hub.sasToken !== next.hub.sasToken;
    this.#registration = next;
    if (!changed) return;
    // Any new SAS answers a refusal of the old one, also one obtained by provisioning again: renewing once more
    // would cost a needless register and reconnect, after the hammering guard held the loop for up to 10 s.
    this.#renewNow = false;
    for (const listener of [...this.#listeners]) listener();
  }

  /** A hub that keeps refusing fresh credentials must not make us re-register in a tight loop. */
  async #avoidHammering(signal: AbortSignal): Promise<void> {
    const sinceLast = this.clock.now() - this.#lastRenewal;
    if (this.#renewNow && sinceLast < 10_000) await sleep(10_000 - sinceLast, signal);
  }

  async #sleepUntilDue(signal: AbortSignal): Promise<void> {
    const due = Math.min(
      this.#registration.hub.sasRenewAt,
      this.#registration.registrationTokenRenewAt ?? Number.POSITIVE_INFINITY,
    );
    // Wake at least every minute: the wall clock may jump (NTP after boot) and timers do not follow it.
    const delay = Math.max(0, Math.min(due - this.clock.now(), 60_000));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, delay);
      // The listener goes with the wait: the signal lives as long as the client and this runs at every renewal.
      function done() {
        clearTimeout(timer);
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

function hubOf(credentials: HubCredentials, now: number): StoredRegistration['hub'] {
  const sasExpiresAt = credentials.sasExpiresAt.getTime();
  return { ...credentials, sasExpiresAt, sasRenewAt: effectiveExpiryUntil(now, sasExpiresAt) };
}

function toCredentials(registration: StoredRegistration): HubCredentials {
  return { ...registration.hub, sasExpiresAt: new Date(registration.hub.sasExpiresAt) };
}
