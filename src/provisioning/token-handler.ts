/**
 * The token handler: establishes the registration and keeps the registration token and the SAS fresh for the
 * client's life. What to renew when is decided in renewal-plan.ts, what is stored in registration.ts; this class
 * carries the steps out. A little over 300 lines because it is the one owner of the registration and its loop:
 * splitting the remaining steps apart would spread that state over several classes.
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
import { type ProvisioningFlowOptions, runProvisioning } from './flow.js';
import {
  isReusable,
  registrationKey,
  type StoredRegistration,
  toCredentials,
  tokenFields,
  withLifetime,
} from './registration.js';
import { type Now, nextRenewal, type RenewalState, type SasPacing, sasArrival } from './renewal-plan.js';

export type { StoredRegistration } from './registration.js';

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
  /** Ends the loop's sleep early: a refusal, provisioning required, or stop. */
  readonly #alarm: Hurry;
  #loop: Promise<void> | undefined;
  /** The pacing state {@link nextRenewal} decides from (the due times come from `#registration`). */
  readonly #pacing: Omit<RenewalState, 'sasRenewAt' | 'registrationTokenRenewAt'>;
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
    this.#pacing = {
      needsProvisioning: false,
      refused: false,
      lastRenewalAt: undefined,
      sas: { arrivedAt: clock.monotonicNow(), renewAfterMs: Number.POSITIVE_INFINITY, struck: false },
      strikes: 0,
    };
    this.#hurry = new Hurry(clock);
    this.#alarm = new Hurry(clock);
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
    const stored = await this.state.get<StoredRegistration>(registrationKey);
    if (
      stored &&
      isReusable(stored, {
        provisioningTokenHash: hash,
        deviceId: this.options.deviceId,
        instance: this.options.instance,
      })
    ) {
      this.#registration = stored;
      this.options.secrets?.add(stored.registrationToken);
      this.options.secrets?.add(stored.hub.sasToken);
      if (
        stored.registrationTokenExpiresAt !== null &&
        stored.registrationTokenExpiresAt <= this.clock.now()
      ) {
        this.log.warn('The stored registration token has expired; provisioning again in the background');
        this.#pacing.needsProvisioning = true;
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
    this.#alarm.now();
    await this.#loop;
  }

  async current(): Promise<HubCredentials> {
    return toCredentials(this.#registration);
  }

  async refused(credentials: HubCredentials, signal: AbortSignal): Promise<void> {
    if (credentials.sasToken !== this.#registration.hub.sasToken) return;
    if (!this.#pacing.sas.struck) {
      this.#pacing.sas.struck = true;
      this.#pacing.strikes++;
    }
    this.#pacing.refused = true;
    this.#alarm.now();
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
    if (this.#pacing.needsProvisioning) return;
    this.#pacing.needsProvisioning = true;
    this.log.warn('Provisioning required', { reason });
    this.#alarm.now();
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    // Begin on a later task, not synchronously inside start(): `DeviceClient.start` resolves first, so a listener
    // its caller adds at once still hears the `provisioningRequired` of a registration that expired offline.
    await sleep(this.clock, 0, signal).catch(() => {});
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const step = nextRenewal(
          {
            ...this.#pacing,
            sasRenewAt: this.#registration.hub.sasRenewAt,
            registrationTokenRenewAt: this.#registration.registrationTokenRenewAt,
          },
          this.#now(),
        );
        switch (step.kind) {
          case 'provision': {
            this.events.provisioningRequired('the registration token is no longer valid');
            const issued = await runProvisioning(this.api, this.options, this.clock, this.log, signal);
            await this.#register(issued, this.#registration.provisioningTokenHash, signal);
            this.#pacing.needsProvisioning = false;
            break;
          }
          case 'renewSas':
            this.#pacing.strikes = step.strikes;
            if (step.waitMs > 0) await sleep(this.clock, step.waitMs, signal);
            await this.#renewSas(signal);
            break;
          case 'refreshRegistrationToken':
            await this.#refreshRegistrationToken(signal);
            break;
          case 'sleep':
            await this.#alarm.wait(step.ms, signal);
            break;
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
    this.#pacing.lastRenewalAt = this.clock.monotonicNow();
    const registration = await retrying(
      () => this.api.register(this.#registration.registrationToken, signal),
      this.clock,
      this.log,
      signal,
      this.#hurry,
    );
    const now = this.clock.now();
    const { hub, pacing } = this.#arrived(registration.credentials, now);
    const next = withLifetime({ ...this.#registration, hub }, registration.registrationTokenLifetimeMs, now);
    this.#pacing.refused = false;
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
    const token = withLifetime(tokenFields(issued, now), registration.registrationTokenLifetimeMs, now);
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
    await this.state.set(registrationKey, next);
    const changed = this.#registration === undefined || this.#registration.hub.sasToken !== next.hub.sasToken;
    this.#registration = next;
    if (pacing) this.#adopt(pacing, next.hub.sasExpiresAt);
    if (!changed) return;
    // Any new SAS answers a refusal of the old one, also one obtained by provisioning again: renewing once more
    // would cost a needless register and reconnect, after the hammering guard held the loop for 10 s or more.
    this.#pacing.refused = false;
    for (const listener of [...this.#listeners]) listener();
  }

  /** The hub part of the registration for a SAS that just arrived, and how to pace its renewal. */
  #arrived(credentials: HubCredentials, now: number): { hub: StoredRegistration['hub']; pacing: SasPacing } {
    const sasExpiresAt = credentials.sasExpiresAt.getTime();
    const { sasRenewAt, pacing } = sasArrival(sasExpiresAt, this.#pacing.strikes, {
      wall: now,
      monotonic: this.clock.monotonicNow(),
    });
    return { hub: { ...credentials, sasExpiresAt, sasRenewAt }, pacing };
  }

  #adopt(pacing: SasPacing, sasExpiresAt: number): void {
    this.#pacing.sas = pacing;
    if (!pacing.struck) {
      this.#skewReported = false;
      return;
    }
    this.#pacing.strikes++;
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

  #now(): Now {
    return { wall: this.clock.now(), monotonic: this.clock.monotonicNow() };
  }
}
