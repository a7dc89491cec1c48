/**
 * The platform's device HTTP API (SPEC.md §2) over ky. Every response is untrusted: fields are checked before use,
 * and errors name what was wrong without quoting tokens.
 */
import ky, { type KyInstance } from 'ky';
import { abortedError, isSpotflowError, SpotflowError } from '../errors.js';
import { type HubCredentials, parseConnectionString } from '../iothub/connection-string.js';
import type { Clock } from '../ports.js';
import { type Answer, exchange, jsonOf } from '../util/http.js';
import { Secrets } from '../util/secrets.js';
import { tlsError, tlsVerificationCode } from '../util/tls.js';
import { parseDuration, parseExpirationTime, parseHttpDate } from './expiry.js';

/** What every successful answer tells besides its body. */
export interface Answered {
  /** The platform's time when it answered (its `Date` header), or undefined when it sent none that could be read. */
  platformTime: number | undefined;
}

export interface StartedOperation extends Answered {
  id: string;
  verificationCode: string;
  /** The platform's time when the operation expires (the platform, not the device, decides when it has). */
  expiresAt: number;
}

export interface IssuedRegistrationToken extends Answered {
  registrationToken: string;
  /** Absolute expiry on the platform's clock (ms epoch), or undefined when the token does not expire. */
  expiresAt: number | undefined;
}

export interface Registration extends Answered {
  credentials: HubCredentials;
  /** Remaining lifetime of the registration token, when the platform says. */
  registrationTokenLifetimeMs: number | undefined;
}

const cancelledProblemType = '/problems/deviceProvisioning/provisioningOperationCancelled';
/** One deadline for each call, headers and body together. */
const requestTimeoutMs = 30_000;
/** The largest answer read: the device API's bodies are a few kB (a connection string, tokens). */
const maxBodyBytes = 1024 * 1024;

function protocol(message: string): SpotflowError {
  return new SpotflowError('PROTOCOL', message);
}

function requireString(body: Record<string, unknown>, field: string, max = 16_384): string {
  const value = body[field];
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw protocol(`The platform's response has no valid ${field}`);
  }
  return value;
}

function jsonBody(answer: Answer): Record<string, unknown> {
  const body = jsonOf(answer.body);
  if (body === undefined) {
    throw protocol(`The platform answered ${answer.status} with a body that is not JSON`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw protocol(`The platform answered ${answer.status} with a body that is not a JSON object`);
  }
  return body as Record<string, unknown>;
}

/**
 * Problem details of an error response, as far as they can be read (`type`, `title`, short and safe). The title is
 * server text that goes into an error message: scrubbed of every secret first (a server may reflect the request's
 * Authorization header), then cut short.
 */
function problemOf(answer: Answer, secrets: Secrets): { type?: string; title?: string } {
  const body = jsonOf(answer.body) as { type?: unknown; title?: unknown } | null | undefined;
  if (typeof body !== 'object' || body === null) return {};
  const clean = (v: unknown) =>
    typeof v === 'string'
      ? secrets
          .scrub(v)
          .slice(0, 200)
          .replace(/[^\x20-\x7e]/g, '')
      : undefined;
  return { type: clean(body.type), title: clean(body.title) };
}

export class ProvisioningApi {
  readonly #http: KyInstance;
  readonly #timeoutMs: number;
  readonly #maxBodyBytes: number;
  readonly #secrets: Secrets;
  /** Named in a `TLS` error (never the URL, which a call may extend with tokens). */
  readonly #host: string;

  /**
   * @param options.timeoutMs how long one call may take, headers and body together (default 30 s); tests shorten it.
   * @param options.maxBodyBytes the largest answer read (default 1 MiB).
   * @param options.secrets the client's secrets: every token this API sends or receives joins them, and server
   * text that goes into an error is scrubbed of all of them.
   */
  constructor(
    instance: string,
    fetchImpl: typeof fetch,
    private readonly clock: Clock,
    options: { timeoutMs?: number; maxBodyBytes?: number; secrets?: Secrets } = {},
  ) {
    this.#timeoutMs = options.timeoutMs ?? requestTimeoutMs;
    this.#maxBodyBytes = options.maxBodyBytes ?? maxBodyBytes;
    this.#secrets = options.secrets ?? new Secrets();
    this.#host = hostOf(instance);
    // ky's own timeout covers only the headers: the deadline is `exchange`'s.
    this.#http = ky.create({
      prefixUrl: instance,
      fetch: fetchImpl,
      retry: 0,
      timeout: false,
      throwHttpErrors: false,
    });
  }

  async init(
    provisioningToken: string,
    deviceId: string | undefined,
    signal?: AbortSignal,
  ): Promise<StartedOperation> {
    const response = await this.#send('POST', 'provisioning-operations/init', provisioningToken, {
      json: deviceId === undefined ? {} : { deviceId },
      signal,
    });
    if (response.status === 401) {
      throw new SpotflowError('PROVISIONING_REJECTED', 'The platform refused the provisioning token (401)');
    }
    if (response.status === 400) {
      const { title } = problemOf(response, this.#secrets);
      throw new SpotflowError(
        'PROVISIONING_REJECTED',
        `The platform refused provisioning: ${title ?? 'bad request'}`,
      );
    }
    this.#expectOk(response, 'init');
    const body = jsonBody(response);
    const expiresAt = parseExpirationTime(body.expirationTime, 'expirationTime');
    return {
      id: requireString(body, 'provisioningOperationId', 256),
      verificationCode: requireString(body, 'verificationCode', 256),
      expiresAt: expiresAt ?? Number.POSITIVE_INFINITY,
      platformTime: platformTimeOf(response),
    };
  }

  /** One poll: `pending` until a technician approves, then a registration token. */
  async complete(
    provisioningToken: string,
    operationId: string,
    signal?: AbortSignal,
  ): Promise<{ pending: true } | ({ pending: false } & IssuedRegistrationToken)> {
    const response = await this.#send('PUT', 'provisioning-operations/complete', provisioningToken, {
      json: { provisioningOperationId: operationId },
      signal,
    });
    if (response.status === 202) return { pending: true };
    if (response.status === 410) {
      const { type } = problemOf(response, this.#secrets);
      if (type === cancelledProblemType) {
        throw new SpotflowError(
          'PROVISIONING_CANCELLED',
          'A technician cancelled the provisioning operation',
        );
      }
      throw new SpotflowError(
        'PROVISIONING_EXPIRED',
        'The provisioning operation expired before it was approved',
      );
    }
    if (response.status === 401) {
      throw new SpotflowError('PROVISIONING_REJECTED', 'The platform refused the provisioning token (401)');
    }
    this.#expectOk(response, 'complete');
    return { pending: false, ...this.#issuedToken(response) };
  }

  async refresh(provisioningToken: string, registrationToken: string, signal?: AbortSignal) {
    this.#secrets.add(registrationToken);
    const response = await this.#send('PUT', 'devices/registration-tokens/refresh', provisioningToken, {
      json: { registrationToken },
      signal,
    });
    if (response.status === 401 || response.status === 403) {
      throw new SpotflowError(
        'REGISTRATION_INVALID',
        `The platform refused to refresh the registration token (${response.status})`,
      );
    }
    this.#expectOk(response, 'refresh');
    return this.#issuedToken(response);
  }

  async register(registrationToken: string, signal?: AbortSignal): Promise<Registration> {
    const response = await this.#send('PUT', 'devices/register', registrationToken, {
      json: { connectionStringType: 'SharedAccessSignature' },
      signal,
    });
    if (response.status === 401 || response.status === 403) {
      throw new SpotflowError(
        'REGISTRATION_INVALID',
        `The platform refused the registration token (${response.status})`,
      );
    }
    this.#expectOk(response, 'register');
    const body = jsonBody(response);
    const connectionString = requireString(body, 'connectionString');
    this.#secrets.add(connectionString);
    const credentials = parseConnectionString(connectionString);
    this.#secrets.add(credentials.sasToken);
    const lifetime = body.tokenRemainingLifetime;
    return {
      credentials,
      platformTime: platformTimeOf(response),
      registrationTokenLifetimeMs:
        lifetime === undefined || lifetime === null
          ? undefined
          : parseDuration(lifetime, 'tokenRemainingLifetime'),
    };
  }

  #issuedToken(response: Answer): IssuedRegistrationToken {
    const body = jsonBody(response);
    const registrationToken = requireString(body, 'registrationToken');
    this.#secrets.add(registrationToken);
    return {
      registrationToken,
      expiresAt: parseExpirationTime(body.expirationTime, 'expirationTime'),
      platformTime: platformTimeOf(response),
    };
  }

  /** 423 → WORKSPACE_DISABLED; 5xx and other surprises → NETWORK (retryable) or PROTOCOL. */
  #expectOk(response: Answer, call: string): void {
    if (response.status === 200) return;
    if (response.status === 423)
      throw new SpotflowError('WORKSPACE_DISABLED', 'The workspace is disabled (423)');
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      throw new SpotflowError('NETWORK', `The platform answered ${call} with ${response.status}`);
    }
    const { title } = problemOf(response, this.#secrets);
    throw protocol(`The platform answered ${call} with ${response.status}${title ? ` (${title})` : ''}`);
  }

  async #send(
    method: 'POST' | 'PUT',
    path: string,
    bearer: string,
    options: { json: unknown; signal: AbortSignal | undefined },
  ): Promise<Answer> {
    const call = path.slice(path.lastIndexOf('/') + 1);
    this.#secrets.add(bearer);
    try {
      return await exchange(
        this.clock,
        {
          timeoutMs: this.#timeoutMs,
          maxBodyBytes: this.#maxBodyBytes,
          what: `The platform's answer to ${call}`,
        },
        options.signal,
        (signal) =>
          this.#http(path, {
            method,
            json: options.json,
            headers: { authorization: `Bearer ${bearer}` },
            signal,
          }),
      );
    } catch (error) {
      if (options.signal?.aborted) throw abortedError(options.signal);
      if (isSpotflowError(error)) throw error;
      const tls = tlsVerificationCode(error);
      if (tls !== undefined) throw tlsError(this.#host, tls);
      // No `cause`: ky's errors hold the Request, whose headers carry the bearer token, and util.inspect or an
      // error reporter would print it. The name and system error code say what went wrong.
      throw new SpotflowError('NETWORK', `The platform could not be reached (${describeFailure(error)})`);
    }
  }
}

/** The answer's Date header; a missing or unreadable one is undefined (the caller falls back to what it knew). */
function platformTimeOf(answer: Answer): number | undefined {
  return parseHttpDate(answer.headers.get('date'));
}

function hostOf(instance: string): string {
  try {
    return new URL(instance).host;
  } catch {
    return 'the platform';
  }
}

/** `TimeoutError`, `TypeError: ECONNREFUSED`…: a network failure named without anything it carries. */
function describeFailure(error: unknown): string {
  const name = error instanceof Error ? error.name.slice(0, 40) : 'Error';
  // fetch (undici) reports the system error on its cause; a code is a short identifier, never a secret.
  const code = codeOf(error) ?? codeOf((error as { cause?: unknown } | undefined)?.cause);
  return code === undefined ? name : `${name}: ${code}`;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,39}$/.test(code) ? code : undefined;
}
