import type {
  CloudMessageView,
  ConnectionEntry,
  DeviceView,
  MessagePage,
  MethodResultView,
  OperationStatus,
  OperationView,
  ProblemView,
  TwinSectionDocument,
  TwinView,
} from '../emulator/http/wire.js';
import type { WorkspaceSettings } from '../emulator/state/workspace.js';
import { EmulatorApiError } from './errors.js';
import { decoded, type EmulatorMessage } from './messages.js';
import { type Probe, type WaitOptions, waitUntil } from './wait.js';

/** Where a {@link ManagementClient} finds the emulator, and its credentials. */
export interface ManagementClientOptions {
  /** Where the emulator's HTTP API is, e.g. `http://localhost:5080` (its `instance`). */
  instance: string;
  /** The workspace whose API it calls (the emulator's `workspaceId`). */
  workspaceId: string;
  /** The API token (bearer of every call). */
  apiToken: string;
  /** Default bound of every wait, and of each single call, in ms. Default 10 000. */
  timeoutMs?: number;
}

/** Which of a device's stored messages {@link ManagementClient.messages} reads. */
export interface MessageQuery {
  /** Only messages of this stream. */
  stream?: string;
  /** Only messages with a higher `sequence`. */
  after?: number;
  /** Page size, 1-1000 (default 100). */
  limit?: number;
}

/** What {@link ManagementClient.waitForMessages} counts, and how long it waits. */
export interface MessageWaitOptions extends WaitOptions {
  /** Only messages of this stream. */
  stream?: string;
  /** Only messages this accepts count. */
  where?: (message: EmulatorMessage) => boolean;
}

/** A method call's bound on the emulator's side (it answers 504 after it). */
export interface MethodCallOptions {
  /** Default 30, at most 300. */
  timeoutSeconds?: number;
}

/**
 * The emulator's management API (README "Management API") as typed calls, with bounded waits for what tests await:
 * an operation to approve, messages to arrive, a twin or a connection to change. A refused call throws
 * {@link EmulatorApiError}; a wait that runs out throws {@link WaitTimeoutError} naming what it waited for.
 *
 * @example
 * ```ts
 * const api = new ManagementClient({ instance, workspaceId, apiToken });
 * await api.approve(codeShownByTheDevice);
 * const readings = await api.waitForMessages('kiosk-1', 3, { stream: 'readings' });
 * await api.patchDesired('kiosk-1', { samplingIntervalMs: 250 });
 * ```
 */
export class ManagementClient {
  /** Default bound of every wait, and of each single call, in ms. */
  readonly timeoutMs: number;
  readonly #base: string;
  readonly #apiToken: string;

  constructor(options: ManagementClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.#base = `${options.instance.replace(/\/+$/, '')}/workspaces/${encodeURIComponent(options.workspaceId)}`;
    this.#apiToken = options.apiToken;
  }

  // Provisioning

  /** Operations, all or those with one status. */
  operations(status?: OperationStatus): Promise<OperationView[]> {
    return this.#json('GET', `/provisioning-operations${status ? `?status=${status}` : ''}`);
  }

  /**
   * Approves the operation whose verification code is `code` (the code a device shows), waiting until it is pending
   * (a device may show its code a moment before the emulator lists it). Fails at once when that operation was already
   * decided or expired.
   */
  approve(code: string, options: WaitOptions = {}): Promise<OperationView> {
    return this.#decideByCode(code, 'approve', options);
  }

  /** Approves the pending operation of `deviceId`, waiting until there is one. */
  async approveDevice(deviceId: string, options: WaitOptions = {}): Promise<OperationView> {
    return this.#decide(await this.waitForOperation(deviceId, options), 'approve');
  }

  /** Cancels the operation whose verification code is `code`, waiting until it is pending. */
  cancel(code: string, options: WaitOptions = {}): Promise<OperationView> {
    return this.#decideByCode(code, 'cancel', options);
  }

  /** Waits for a pending operation of `deviceId` (to read its code) without deciding it. */
  waitForOperation(deviceId: string, options: WaitOptions = {}): Promise<OperationView> {
    return this.#wait<OperationView>(
      `a pending provisioning operation of device ${JSON.stringify(deviceId)}`,
      options,
      async () => {
        const operation = (await this.operations('pending')).find((op) => op.deviceId === deviceId);
        return operation ? { done: true, value: operation } : { done: false };
      },
    );
  }

  async #decideByCode(code: string, action: Decision, options: WaitOptions): Promise<OperationView> {
    const awaited = `the provisioning operation with code ${JSON.stringify(code)}`;
    const operation = await this.#wait<OperationView>(awaited, options, async () => {
      const found = (await this.operations()).find((op) => op.verificationCode === code);
      if (found && found.status !== 'pending')
        throw new Error(`cannot ${action} ${awaited}: it is ${found.status}`);
      return found ? { done: true, value: found } : { done: false, seen: 'no such operation' };
    });
    return this.#decide(operation, action);
  }

  #decide(operation: OperationView, action: Decision): Promise<OperationView> {
    return this.#json('PUT', `/provisioning-operations/${action}`, {
      json: { provisioningOperationId: operation.provisioningOperationId },
    });
  }

  // Devices and their messages

  /** Every registered device of the workspace. */
  devices(): Promise<DeviceView[]> {
    return this.#json('GET', '/devices');
  }

  /** The device, or undefined while it has not registered. */
  async device(deviceId: string): Promise<DeviceView | undefined> {
    return (await this.devices()).find((device) => device.deviceId === deviceId);
  }

  /** Waits until the device is connected to the hub. */
  waitForConnected(deviceId: string, options: WaitOptions = {}): Promise<DeviceView> {
    return this.#waitForDevice(deviceId, true, options);
  }

  /** Waits until the device has no connection to the hub. */
  waitForDisconnected(deviceId: string, options: WaitOptions = {}): Promise<DeviceView> {
    return this.#waitForDevice(deviceId, false, options);
  }

  #waitForDevice(deviceId: string, connected: boolean, options: WaitOptions): Promise<DeviceView> {
    const state = connected ? 'connected' : 'disconnected';
    return this.#wait(`device ${JSON.stringify(deviceId)} to be ${state}`, options, async () => {
      const device = await this.device(deviceId);
      if (device?.connected === connected) return { done: true, value: device };
      return { done: false, seen: device ? `connected: ${device.connected}` : 'not registered' };
    });
  }

  /** One page of the device's stored messages (payloads decoded), oldest first; `next` continues. */
  async messages(
    deviceId: string,
    query: MessageQuery = {},
  ): Promise<{
    /** The messages of the page, oldest first. */
    items: EmulatorMessage[];
    /** The `after` of the next page; null when this is the last. */
    next: number | null;
  }> {
    const params = new URLSearchParams();
    if (query.stream !== undefined) params.set('stream', query.stream);
    if (query.after !== undefined) params.set('after', String(query.after));
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const search = params.size > 0 ? `?${params}` : '';
    const page = await this.#json<MessagePage>('GET', `${devicePath(deviceId)}/messages${search}`);
    return { items: page.items.map(decoded), next: page.next };
  }

  /** Every stored message of the device (of `stream`, when given), across pages, oldest first. */
  async allMessages(deviceId: string, options: { stream?: string } = {}): Promise<EmulatorMessage[]> {
    return (await this.#messagesAfter(deviceId, 0, options.stream)).items;
  }

  /**
   * Waits until the device has stored at least `count` messages (of `stream`, accepted by `where`); resolves with all
   * of them so far, oldest first. A device that has not registered yet has none.
   */
  async waitForMessages(
    deviceId: string,
    count: number,
    options: MessageWaitOptions = {},
  ): Promise<EmulatorMessage[]> {
    const { stream, where = () => true } = options;
    const found: EmulatorMessage[] = [];
    let after = 0;
    const awaited = `${count} message${count === 1 ? '' : 's'} of device ${JSON.stringify(deviceId)}${stream === undefined ? '' : ` in stream ${JSON.stringify(stream)}`}`;
    return this.#wait(awaited, options, async () => {
      const read = await this.#messagesAfter(deviceId, after, stream).catch(notFoundAs(undefined));
      if (read) {
        found.push(...read.items.filter(where));
        after = read.last;
      }
      if (found.length >= count) return { done: true, value: found };
      return { done: false, seen: read ? `${found.length} arrived` : 'the device has not registered' };
    });
  }

  async #messagesAfter(deviceId: string, after: number, stream: string | undefined) {
    const items: EmulatorMessage[] = [];
    let last = after;
    for (;;) {
      const page = await this.messages(deviceId, { stream, after: last, limit: 1000 });
      items.push(...page.items);
      last = page.items.at(-1)?.sequence ?? last;
      if (page.next === null) return { items, last };
      last = page.next;
    }
  }

  // Twin

  /** The device's twin: its desired and reported properties. */
  twin(deviceId: string): Promise<TwinView> {
    return this.#json('GET', `${devicePath(deviceId)}/twin`);
  }

  /** Applies a JSON merge patch to the desired properties (pushed to the device when connected); the new section. */
  patchDesired(deviceId: string, patch: Record<string, unknown>): Promise<TwinSectionDocument> {
    return this.#json('PATCH', `${devicePath(deviceId)}/twin/desired`, { json: patch });
  }

  /** Waits until `accept` accepts the device's twin (e.g. a reported property arrived); resolves with that twin. */
  waitForTwin(
    deviceId: string,
    accept: (twin: TwinView) => boolean,
    options: WaitOptions & { description?: string } = {},
  ): Promise<TwinView> {
    const awaited =
      options.description ?? `the twin of device ${JSON.stringify(deviceId)} to satisfy ${accept.toString()}`;
    return this.#wait(awaited, options, async () => {
      const twin = await this.twin(deviceId).catch(notFoundAs(undefined));
      if (twin && accept(twin)) return { done: true, value: twin };
      return { done: false, seen: twin ? JSON.stringify(twin) : 'the device has not registered' };
    });
  }

  // Cloud-to-device messages, methods, connections

  /** Queues a cloud-to-device message (delivered when the device is connected); its message id. */
  sendCloudMessage(
    deviceId: string,
    payload: string | Uint8Array,
    options: { properties?: Record<string, string> } = {},
  ): Promise<{
    /** The message id (its `$.mid`). */
    mid: string;
    /** Always true: it waits for the device. */
    queued: boolean;
  }> {
    const search = new URLSearchParams(options.properties).toString();
    return this.#json('POST', `${devicePath(deviceId)}/c2d-messages${search ? `?${search}` : ''}`, {
      body: payload,
    });
  }

  /** Cloud-to-device messages still waiting for the device. */
  pendingCloudMessages(deviceId: string): Promise<CloudMessageView[]> {
    return this.#json('GET', `${devicePath(deviceId)}/c2d-messages`);
  }

  /**
   * Calls a direct method and resolves with the device's answer `{ status, payload }`. Throws
   * {@link EmulatorApiError} with status 404 when the device is offline, 504 when it did not answer in time.
   */
  callMethod(
    deviceId: string,
    name: string,
    payload?: unknown,
    options: MethodCallOptions = {},
  ): Promise<MethodResultView> {
    const seconds = options.timeoutSeconds ?? 30;
    return this.#json(
      'POST',
      `${devicePath(deviceId)}/methods/${encodeURIComponent(name)}?timeoutSeconds=${seconds}`,
      { json: payload, timeoutMs: Math.max(this.timeoutMs, seconds * 1000 + 5000) },
    );
  }

  /** The device's last 100 connects and disconnects, oldest first. */
  connections(deviceId: string): Promise<ConnectionEntry[]> {
    return this.#json('GET', `${devicePath(deviceId)}/connections`);
  }

  /** Drops the device's MQTT connection (fault injection); throws 404 when it is not connected. */
  async dropConnection(deviceId: string): Promise<void> {
    await this.#request('DELETE', `${devicePath(deviceId)}/connection`);
  }

  /** Revokes the device's registration tokens: it must provision again. Resolves with how many were revoked. */
  revokeRegistrationToken(deviceId: string): Promise<{
    /** How many tokens were revoked. */
    revoked: number;
  }> {
    return this.#json('DELETE', `${devicePath(deviceId)}/registration-token`);
  }

  // Workspace

  /** The workspace settings. */
  settings(): Promise<WorkspaceSettings> {
    return this.#json('GET', '/settings');
  }

  /** Changes workspace settings (stored: they outlive the call's test unless set back). */
  updateSettings(patch: Partial<WorkspaceSettings>): Promise<WorkspaceSettings> {
    return this.#json('PATCH', '/settings', { json: patch });
  }

  // Plumbing

  #wait<T>(awaited: string, options: WaitOptions, probe: () => Promise<Probe<T>>): Promise<T> {
    return waitUntil(awaited, probe, {
      timeoutMs: options.timeoutMs ?? this.timeoutMs,
      signal: options.signal,
    });
  }

  async #json<T>(method: string, path: string, body?: RequestBody): Promise<T> {
    const response = await this.#request(method, path, body);
    return (await response.json()) as T;
  }

  async #request(method: string, path: string, body: RequestBody = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#apiToken}` };
    let sent: RequestInit['body'];
    if (body.json !== undefined) {
      headers['content-type'] = 'application/json';
      sent = JSON.stringify(body.json);
    } else if (body.body !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      sent = body.body as RequestInit['body'];
    }
    const response = await fetch(`${this.#base}${path}`, {
      method,
      headers,
      body: sent,
      signal: AbortSignal.timeout(body.timeoutMs ?? this.timeoutMs),
    });
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as ProblemView;
      throw new EmulatorApiError(`${method} ${path}`, response.status, problem);
    }
    return response;
  }
}

type Decision = 'approve' | 'cancel';

interface RequestBody {
  json?: unknown;
  body?: string | Uint8Array;
  timeoutMs?: number;
}

function devicePath(deviceId: string): string {
  return `/devices/${encodeURIComponent(deviceId)}`;
}

/** A catch handler: a 404 (device not registered yet) gives `value`, anything else rethrows. */
function notFoundAs<T>(value: T) {
  return (error: unknown): T => {
    if (error instanceof EmulatorApiError && error.status === 404) return value;
    throw error;
  };
}
