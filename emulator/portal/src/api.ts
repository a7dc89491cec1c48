import type {
  BatchView,
  CloudMessageView,
  ConnectionEntry,
  DeviceView,
  FileView,
  MessagePage,
  MethodResultView,
  OperationStatus,
  OperationView,
  ProblemView,
  TwinSectionDocument,
  TwinView,
} from '../../http/wire';

/** A failed management call: the HTTP status (0 when the emulator could not be reached) and its problem details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail = '',
  ) {
    super(detail ? `${title}: ${detail}` : title);
  }

  /** `404 Device not found — device x is …`, for people. */
  describe(): string {
    const head = this.status ? `${this.status} ${this.title}` : this.title;
    return this.detail ? `${head} — ${this.detail}` : head;
  }
}

/** Any error as one line for people. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.describe();
  return error instanceof Error ? error.message : String(error);
}

interface Body {
  json?: unknown;
  text?: string;
}

/**
 * The emulator's management API (same origin), with the API token as bearer. A 401 calls `onUnauthorized` (the
 * portal then asks for the token again) before the call rejects.
 */
export class ManagementApi {
  readonly base: string;

  constructor(
    readonly workspaceId: string,
    readonly token: string,
    private readonly onUnauthorized: () => void = () => {},
  ) {
    this.base = `/workspaces/${encodeURIComponent(workspaceId)}`;
  }

  /** Tells the portal the token was refused (the live stream's 401 goes here too). */
  refused(): void {
    this.onUnauthorized();
  }

  /** Headers that authenticate a call (also used by the live stream). */
  authorization(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  /** Resolves with the response of a successful call; rejects with ApiError. */
  async fetch(method: string, path: string, body: Body = {}, extra: RequestInit = {}): Promise<Response> {
    const headers: Record<string, string> = this.authorization();
    let payload: string | undefined;
    if (body.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body.text !== undefined) {
      headers['content-type'] = 'text/plain; charset=utf-8';
      payload = body.text;
    }
    let response: Response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers,
        body: payload,
        cache: 'no-store',
        ...extra,
      });
    } catch (error) {
      if (extra.signal?.aborted) throw error;
      throw new ApiError(0, 'Emulator not reachable', 'is it still running?');
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => '');
    let problem: ProblemView = {};
    try {
      problem = JSON.parse(text) as ProblemView;
    } catch {
      problem = { detail: text.slice(0, 300) };
    }
    if (response.status === 401) this.refused();
    throw new ApiError(
      response.status,
      problem.title || response.statusText || 'Request failed',
      problem.detail ?? '',
    );
  }

  /** A call whose answer is JSON (or empty). */
  async call<T>(method: string, path: string, body: Body = {}): Promise<T> {
    const response = await this.fetch(method, path, body);
    const text = await response.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  settings(): Promise<unknown> {
    return this.call('GET', '/settings');
  }

  operations(status?: OperationStatus): Promise<OperationView[]> {
    return this.call('GET', `/provisioning-operations${status ? `?status=${status}` : ''}`);
  }

  operation(id: string): Promise<OperationView> {
    return this.call('GET', `/provisioning-operations/${encodeURIComponent(id)}`);
  }

  decide(id: string, action: 'approve' | 'cancel'): Promise<OperationView> {
    return this.call('PUT', `/provisioning-operations/${action}`, { json: { provisioningOperationId: id } });
  }

  devices(): Promise<DeviceView[]> {
    return this.call('GET', '/devices');
  }

  /** The newest `last` messages of the device (of one stream, if given), oldest first. */
  latestMessages(deviceId: string, last: number, stream?: string): Promise<MessagePage> {
    const query = new URLSearchParams({ last: String(last) });
    if (stream) query.set('stream', stream);
    return this.call('GET', `${device(deviceId)}/messages?${query}`);
  }

  /** The one message with this sequence number (its whole payload). */
  async message(deviceId: string, sequence: number): Promise<MessagePage['items'][number] | undefined> {
    const page = await this.call<MessagePage>(
      'GET',
      `${device(deviceId)}/messages?after=${sequence - 1}&limit=1`,
    );
    return page.items.find((item) => item.sequence === sequence);
  }

  batches(deviceId: string): Promise<BatchView[]> {
    return this.call('GET', `${device(deviceId)}/batches`);
  }

  twin(deviceId: string): Promise<TwinView> {
    return this.call('GET', `${device(deviceId)}/twin`);
  }

  patchDesired(deviceId: string, patch: Record<string, unknown>): Promise<TwinSectionDocument> {
    return this.call('PATCH', `${device(deviceId)}/twin/desired`, { json: patch });
  }

  sendCloudMessage(
    deviceId: string,
    body: string,
    properties: URLSearchParams,
  ): Promise<{ mid: string; queued: boolean }> {
    const query = properties.toString();
    return this.call('POST', `${device(deviceId)}/c2d-messages${query ? `?${query}` : ''}`, { text: body });
  }

  cloudMessages(deviceId: string): Promise<CloudMessageView[]> {
    return this.call('GET', `${device(deviceId)}/c2d-messages`);
  }

  callMethod(
    deviceId: string,
    name: string,
    payload: unknown,
    timeoutSeconds: number,
  ): Promise<MethodResultView> {
    const path = `${device(deviceId)}/methods/${encodeURIComponent(name)}?timeoutSeconds=${timeoutSeconds}`;
    return this.call('POST', path, payload === undefined ? {} : { json: payload });
  }

  connections(deviceId: string): Promise<ConnectionEntry[]> {
    return this.call('GET', `${device(deviceId)}/connections`);
  }

  files(deviceId: string): Promise<FileView[]> {
    return this.call('GET', `${device(deviceId)}/files`);
  }

  async download(deviceId: string, name: string): Promise<Blob> {
    const path = name.split('/').map(encodeURIComponent).join('/');
    return (await this.fetch('GET', `${device(deviceId)}/files/${path}`)).blob();
  }
}

function device(deviceId: string): string {
  return `/devices/${encodeURIComponent(deviceId)}`;
}
