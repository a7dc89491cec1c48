/**
 * The token handler: establishes the registration and keeps the registration token and the SAS fresh for the
 * client's life. What to renew when is decided in renewal-plan.ts, what is stored in registration.ts, the platform's
 * time in platform-time.ts; this class carries the steps out. About 440 lines because it is the one owner of the
 * registration, its pacing and its loop: the steps (provision, register, renew, refresh, learn the time) all read and
 * write that state, and splitting them apart would spread it over several classes that each need all of it.
 *
 * The device's clock decides nothing: a stored registration is used until the platform refuses it (401), whatever
 * the clock says, and every due time is on the platform's clock as its answers tell it, carried on the monotonic one.
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
import type { Answered, IssuedRegistrationToken, ProvisioningApi } from './api.js';
import { type ProvisioningFlowOptions, runProvisioning } from './flow.js';
import { PlatformTime, WALL_JUMP_MS } from './platform-time.js';
import {
  isReusable,
  registrationKey,
  type StoredRegistration,
  toCredentials,
  tokenFields,
  withLifetime,
} from './registration.js';
import { type Now, nextRenewal, type RenewalState, type SasPacing, sasArrival } from './renewal-plan.js';

/** The device's clock this far off the platform's is worth a warning (once, until it comes back within it). */
const CLOCK_WARNING_MS = 60_000;

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
  /** Whether the device's clock has been reported far off the platform's (once, until it comes back). */
  #clockReported = false;
  /** The platform's time, as its answers told it (a guess from the wall clock before the first). */
  #time: PlatformTime;
  /** Registration tokens in a row that arrived already expired by the platform's time as known. */
  #refreshStrikes = 0;
  /** Refusals of the registration (401) in a row: after the first, provisioning again waits, with backoff. */
  #invalidInARow = 0;
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
      timeUnknown: false,
      lastRefreshAt: undefined,
      timeChecks: 0,
    };
    this.#time = new PlatformTime(clock);
    this.#hurry = new Hurry(clock);
    this.#alarm = new Hurry(clock);
  }

  get registration(): StoredRegistration {
    return this.#registration;
  }

  /**
   * Start-up: reuse the stored registration when it was made with the same provisioning token, requested device
   * id and instance; otherwise provision now (waiting for approval). A stored registration is used whatever the
   * device's clock says about its expiry (offline-first, and the clock may be years off): the loop's first refresh
   * learns the platform's time, and only the platform's refusal (401) makes the client provision again.
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
      this.#time = new PlatformTime(this.clock, stored.platformOffsetMs ?? 0);
      this.#pacing.timeUnknown = true;
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
        if (this.#time.wallStep() > WALL_JUMP_MS) {
          // NTP, a user, or a suspend (the monotonic clock stood still meanwhile): learn the platform's time again.
          this.log.info("The device's clock stepped forward; asking the platform for its time");
          this.#pacing.timeUnknown = true;
        }
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
            if (step.timeCheck) await this.#checkTime(signal);
            else await this.#refreshRegistrationToken(signal);
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
          // A platform that refuses the registration it has just issued must not make a loop of provisionings.
          if (this.#invalidInARow++ > 0) {
            const delay = backoffDelay(this.#invalidInARow - 2, { initialMs: 10_000, maxMs: 300_000 });
            await sleep(this.clock, delay, signal).catch(() => {});
          }
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
    const { registration, now } = await this.#registerAgain(signal);
    const lifetimeMs = registration.registrationTokenLifetimeMs;
    const { hub, pacing } = this.#arrived(registration.credentials, now);
    const next = withLifetime({ ...this.#registration, hub }, lifetimeMs, now);
    this.#pacing.refused = false;
    await this.#store(next, pacing);
    // Not `sasExpiresAt`: the logger redacts fields whose name mentions a SAS.
    this.log.info('Hub credentials renewed', { expiresAt: new Date(next.hub.sasExpiresAt).toISOString() });
  }

  /**
   * Learns the platform's time (paced in renewal-plan.ts) by registering, which changes nothing on the platform, not
   * by refreshing the registration token: a refresh revokes the old token at once, so a device killed between the
   * platform's answer and storing the new token would be left with a revoked one and need a technician. The SAS in
   * the answer is not used: the stored one stays valid.
   */
  async #checkTime(signal: AbortSignal): Promise<void> {
    this.#pacing.lastRefreshAt = this.clock.monotonicNow();
    this.#pacing.timeChecks += 1;
    await this.#registerAgain(signal);
  }

  /** Registers with the stored registration token (retried); the answer, and the platform's time it told. */
  async #registerAgain(signal: AbortSignal) {
    const registration = await retrying(
      () => this.api.register(this.#registration.registrationToken, signal),
      this.clock,
      this.log,
      signal,
      this.#hurry,
    );
    const lifetimeMs = registration.registrationTokenLifetimeMs;
    return {
      registration,
      now: this.#answered(registration, this.#registration.registrationTokenExpiresAt, lifetimeMs),
    };
  }

  async #refreshRegistrationToken(signal: AbortSignal): Promise<void> {
    this.#pacing.lastRefreshAt = this.clock.monotonicNow();
    this.#pacing.timeChecks = 0;
    const issued = await retrying(
      () => this.api.refresh(this.options.provisioningToken, this.#registration.registrationToken, signal),
      this.clock,
      this.log,
      signal,
      this.#hurry,
    );
    const { token, struck } = tokenFields(issued, this.#answered(issued), this.#refreshStrikes);
    this.#refreshStrikes = struck ? this.#refreshStrikes + 1 : 0;
    await this.#store({ ...this.#registration, ...token });
    this.log.info('Registration token refreshed', {
      renewInMs:
        token.registrationTokenRenewAt === null ? null : token.registrationTokenRenewAt - this.#time.now(),
    });
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
    const lifetimeMs = registration.registrationTokenLifetimeMs;
    if (issued.platformTime !== undefined) this.#time.learnFromDate(issued.platformTime);
    const now = this.#answered(registration, issued.expiresAt ?? null, lifetimeMs);
    const { token: fields, struck } = tokenFields(issued, now);
    this.#refreshStrikes = struck ? 1 : 0;
    const token = withLifetime(fields, lifetimeMs, now);
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
  async #store(registration: StoredRegistration, pacing?: SasPacing): Promise<void> {
    // Every store follows an answer of the platform, which accepted the registration.
    this.#invalidInARow = 0;
    const next = this.#time.known
      ? { ...registration, platformOffsetMs: Math.round(this.#time.offsetMs) }
      : registration;
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

  /**
   * Learns the platform's time from an answer that just arrived, and returns it. Its Date header tells it; without
   * one, a registration token's remaining lifetime (`lifetimeMs`, from `register`) against its known expiry
   * (`tokenExpiresAt`) does; without either, it stays what it was (at worst the device's own clock). Either way the
   * platform has been asked: the time is no longer waiting to be learnt.
   */
  #answered(answer: Answered, tokenExpiresAt?: number | null, lifetimeMs?: number): number {
    if (answer.platformTime !== undefined) this.#time.learnFromDate(answer.platformTime);
    else if (lifetimeMs !== undefined && tokenExpiresAt != null)
      this.#time.learnFromLifetime(tokenExpiresAt, lifetimeMs);
    this.#pacing.timeUnknown = false;
    this.#reportClock();
    return this.#time.now();
  }

  /** Says once when the device's clock is far off the platform's: harmless to the SDK, not to the application. */
  #reportClock(): void {
    if (!this.#time.known) return;
    const aheadMs = -this.#time.offsetMs;
    if (Math.abs(aheadMs) < CLOCK_WARNING_MS) {
      this.#clockReported = false;
      return;
    }
    if (this.#clockReported) return;
    this.#clockReported = true;
    this.log.warn(
      `The device's clock is ${formatDuration(Math.abs(aheadMs))} ${aheadMs > 0 ? 'ahead of' : 'behind'} the ` +
        "platform's. Credentials are timed by the platform's time, so the SDK is not affected; set the device's " +
        'clock (NTP) for the times your application reads from it',
      {
        deviceClock: new Date(this.clock.now()).toISOString(),
        platformTime: new Date(this.#time.now()).toISOString(),
      },
    );
  }

  /** The hub part of the registration for a SAS that just arrived, and how to pace its renewal. */
  #arrived(credentials: HubCredentials, now: number): { hub: StoredRegistration['hub']; pacing: SasPacing } {
    const sasExpiresAt = credentials.sasExpiresAt.getTime();
    const { sasRenewAt, pacing } = sasArrival(sasExpiresAt, this.#pacing.strikes, {
      platform: now,
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
      this.#time.known
        ? "The hub credentials arrived already expired by the platform's own time (its Date header). Using them " +
            'anyway and renewing them with backoff'
        : "The hub credentials arrived already expired by this device's clock (the platform does not tell its " +
            "time): the clock is probably ahead of the platform's. Using them anyway and renewing them with " +
            "backoff; set the device's clock (NTP) to fix this",
      {
        expiresAt: new Date(sasExpiresAt).toISOString(),
        deviceClock: new Date(this.clock.now()).toISOString(),
        renewInMs: pacing.renewAfterMs,
      },
    );
  }

  #now(): Now {
    return { platform: this.#time.now(), monotonic: this.clock.monotonicNow() };
  }
}

/** `2 years`, `3 hours`, `90 seconds`: a clock's error as people read it (to within a percent). */
function formatDuration(ms: number): string {
  const units: [string, number][] = [
    ['year', 365 * 86_400_000],
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
  ];
  for (const [name, size] of units) {
    const count = Math.round(ms / size);
    if (ms >= 0.99 * size) return `${count} ${name}${count === 1 ? '' : 's'}`;
  }
  return `${Math.round(ms / 1000)} seconds`;
}
