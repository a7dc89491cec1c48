import { type EmulatorOptions, type RunningEmulator, startEmulator } from '../../emulator/index.js';

export interface HttpResult<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** One HTTP call to the emulator; JSON bodies in and out. */
export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  options: {
    token?: string;
    authorization?: string;
    json?: unknown;
    body?: RequestInit['body'];
    headers?: Record<string, string>;
  } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  }
  const send = () => fetch(`${base}${path}`, { method, headers, body });
  let response: Response;
  try {
    response = await send();
  } catch (error) {
    // A kept-alive connection the server closed just as it was reused (ECONNRESET on a loaded machine, while a test
    // polled for arrivals): a read is safe to send again, once.
    if (method !== 'GET' || !isConnectionReset(error)) throw error;
    response = await send();
  }
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed as T };
}

function isConnectionReset(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE';
}

/** The management API of a running emulator, as tests and CI scripts use it. */
export class ManagementClient {
  constructor(readonly emulator: RunningEmulator) {}

  request<T = any>(method: string, path: string, json?: unknown, extra: { body?: RequestInit['body'] } = {}) {
    // Plain HTTP on the emulator's one port, whatever the instance's scheme (the port speaks both).
    return call<T>(
      `http://localhost:${this.emulator.port}`,
      method,
      `/workspaces/${this.emulator.workspaceId}${path}`,
      {
        token: this.emulator.apiToken,
        json,
        ...extra,
      },
    );
  }

  async approve(provisioningOperationId: string) {
    return this.request('PUT', '/provisioning-operations/approve', { provisioningOperationId });
  }

  async messages(deviceId: string, query = '') {
    const result = await this.request('GET', `/devices/${encodeURIComponent(deviceId)}/messages${query}`);
    if (result.status !== 200) throw new Error(`messages: ${result.status} ${JSON.stringify(result.body)}`);
    return result.body as { items: any[]; next: number | null };
  }

  /** Every message the emulator stored for the device, in arrival (sequence) order, across all pages. */
  async allMessages(deviceId: string): Promise<any[]> {
    const all: any[] = [];
    let after = 0;
    for (;;) {
      const page = await this.messages(deviceId, `?limit=1000&after=${after}`);
      all.push(...page.items);
      if (page.next === null) return all;
      after = page.next;
    }
  }

  async twin(deviceId: string) {
    return (await this.request('GET', `/devices/${encodeURIComponent(deviceId)}/twin`)).body;
  }

  async settings(patch: Record<string, unknown>) {
    return this.request('PATCH', '/settings', patch);
  }
}

export interface TestEmulator extends RunningEmulator {
  api: ManagementClient;
}

export async function startTestEmulator(options: EmulatorOptions = {}): Promise<TestEmulator> {
  const emulator = await startEmulator({ memory: true, port: 0, ...options });
  return Object.assign(emulator, { api: new ManagementClient(emulator) });
}

export interface ProvisionedDevice {
  deviceId: string;
  hubDeviceId: string;
  registrationToken: string;
  connectionString: string;
  iotHubHostName: string;
  sasToken: string;
}

/** Runs the whole device flow over HTTP: init → approve → complete → register. */
export async function provisionDevice(emulator: TestEmulator, deviceId: string): Promise<ProvisionedDevice> {
  const base = emulator.instance;
  const token = emulator.provisioningToken;
  const init = await call(base, 'POST', '/provisioning-operations/init', { token, json: { deviceId } });
  if (init.status !== 200) throw new Error(`init: ${init.status}`);
  await emulator.api.approve(init.body.provisioningOperationId);
  const complete = await call(base, 'PUT', '/provisioning-operations/complete', {
    token,
    json: { provisioningOperationId: init.body.provisioningOperationId },
  });
  if (complete.status !== 200) throw new Error(`complete: ${complete.status}`);
  const registrationToken = complete.body.registrationToken as string;
  const register = await call(base, 'PUT', '/devices/register', {
    token: registrationToken,
    json: { connectionStringType: 'SharedAccessSignature' },
  });
  if (register.status !== 200) throw new Error(`register: ${register.status}`);
  const parts = Object.fromEntries(
    (register.body.connectionString as string).split(';').map((part) => {
      const eq = part.indexOf('=');
      return [part.slice(0, eq), part.slice(eq + 1)];
    }),
  );
  return {
    deviceId,
    hubDeviceId: parts.DeviceId!,
    registrationToken,
    connectionString: register.body.connectionString,
    iotHubHostName: register.body.iotHubHostName,
    sasToken: parts.SharedAccessSignature!,
  };
}
