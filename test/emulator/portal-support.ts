/**
 * Shared by the portal's tests (test/emulator/portal*.test.ts and test/browser/portal*.test.ts): a reader of the
 * management API's live event stream, file uploads the way a device makes them, telemetry with a property bag.
 */
import type { MqttClient } from 'mqtt';
import type { LiveEventName, LiveEvents } from '../../emulator/http/wire.js';
import { type SseEvent, SseParser } from '../../emulator/portal/src/sse.js';
import { call, type ProvisionedDevice, type TestEmulator } from '../helpers/emulator.js';

export interface LiveEvent {
  id?: string;
  type: string;
  data: unknown;
}

/** An open `GET /workspaces/{ws}/events` stream, read in the background. */
export interface LiveReader {
  readonly status: number;
  readonly events: LiveEvent[];
  /** The data of the next event of this type (matching `where`) not yet taken, waiting for it if need be. */
  next<K extends LiveEventName>(
    type: K,
    where?: (data: LiveEvents[K]) => boolean,
    timeoutMs?: number,
  ): Promise<LiveEvents[K]>;
  /** Like `next`, with the event's id. */
  nextEvent<K extends LiveEventName>(
    type: K,
    where?: (data: LiveEvents[K]) => boolean,
    timeoutMs?: number,
  ): Promise<{ id: string | undefined; data: LiveEvents[K] }>;
  close(): void;
}

export async function openLive(
  emulator: TestEmulator,
  options: { token?: string; lastEventId?: string; workspaceId?: string } = {},
): Promise<LiveReader> {
  const abort = new AbortController();
  const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? emulator.apiToken}` };
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
  const response = await fetch(
    `http://localhost:${emulator.port}/workspaces/${options.workspaceId ?? emulator.workspaceId}/events`,
    { headers, signal: abort.signal },
  );
  const events: LiveEvent[] = [];
  const taken = new Set<LiveEvent>();
  let wake: () => void = () => {};
  const parser = new SseParser((event: SseEvent) => {
    let data: unknown = event.data;
    try {
      data = JSON.parse(event.data);
    } catch {
      // keep the text
    }
    events.push(
      event.id === undefined ? { type: event.type, data } : { id: event.id, type: event.type, data },
    );
    wake();
  });
  if (response.ok && response.body) {
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          parser.push(decoder.decode(chunk, { stream: true }));
        }
      } catch {
        // closed
      }
    })();
  } else {
    await response.body?.cancel();
  }
  const nextEvent = async <K extends LiveEventName>(
    type: K,
    where: (data: LiveEvents[K]) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<{ id: string | undefined; data: LiveEvents[K] }> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find(
        (event) => !taken.has(event) && event.type === type && where(event.data as never),
      );
      if (found) {
        taken.add(found);
        return { id: found.id, data: found.data as LiveEvents[K] };
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no ${type} event within ${timeoutMs} ms; got ${events.map((e) => e.type).join(', ')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  return {
    status: response.status,
    events,
    nextEvent,
    next: async (type, where, timeoutMs) => (await nextEvent(type, where, timeoutMs)).data,
    close: () => abort.abort(),
  };
}

/** Uploads a file as a device does (IoT Hub file upload, blob PUT), then notifies unless told not to. */
export async function uploadFile(
  emulator: TestEmulator,
  device: ProvisionedDevice,
  name: string,
  content: string | Uint8Array,
  notify = true,
): Promise<void> {
  const base = `http://localhost:${emulator.port}`;
  const start = await call(base, 'POST', `/devices/${encodeURIComponent(device.hubDeviceId)}/files`, {
    authorization: device.sasToken,
    json: { blobName: name },
  });
  if (start.status !== 200) throw new Error(`upload start: ${start.status} ${JSON.stringify(start.body)}`);
  const upload = start.body as {
    correlationId: string;
    containerName: string;
    blobName: string;
    sasToken: string;
  };
  const path = upload.blobName.split('/').map(encodeURIComponent).join('/');
  const put = await fetch(`${base}/${upload.containerName}/${path}${upload.sasToken}`, {
    method: 'PUT',
    headers: { 'x-ms-blob-type': 'BlockBlob' },
    body: content,
  });
  if (put.status !== 201) throw new Error(`blob put: ${put.status} ${await put.text()}`);
  if (!notify) return;
  const done = await call(
    base,
    'POST',
    `/devices/${encodeURIComponent(device.hubDeviceId)}/files/notifications`,
    {
      authorization: device.sasToken,
      json: {
        correlationId: upload.correlationId,
        isSuccess: true,
        statusCode: 200,
        statusDescription: 'ok',
      },
    },
  );
  if (done.status !== 204) throw new Error(`upload notification: ${done.status}`);
}

/** Publishes telemetry with a property bag (`{ 'stream-name': 'x', … }`, encoded as IoT Hub wants). */
export async function sendTelemetry(
  client: MqttClient,
  device: ProvisionedDevice,
  properties: Record<string, string>,
  payload: string | Buffer,
): Promise<void> {
  const bag = Object.entries(properties)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');
  await client.publishAsync(`devices/${device.hubDeviceId}/messages/events/${bag}`, payload, { qos: 1 });
}

/** Answers direct method calls on a connected device: a handler per method name; others are left unanswered. */
export async function answerMethods(
  client: MqttClient,
  handlers: Record<string, (payload: unknown) => { status: number; payload: unknown }>,
): Promise<void> {
  await client.subscribeAsync('$iothub/methods/POST/#', { qos: 0 });
  client.on('message', (topic, body) => {
    const match = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
    if (!match) return;
    const handler = handlers[decodeURIComponent(match[1]!)];
    if (!handler) return;
    const answer = handler(body.length ? JSON.parse(body.toString()) : null);
    void client.publishAsync(
      `$iothub/methods/res/${answer.status}/?$rid=${match[2]}`,
      JSON.stringify(answer.payload),
    );
  });
}
