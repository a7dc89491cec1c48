import { type EmulatorContext, hubDeviceId } from '../context.js';
import type { JsonObject } from '../state/merge-patch.js';
import { twinPatchProblem } from '../state/twin-rules.js';
import { sectionDocument } from '../state/twins.js';
import { hubErrorBody, hubErrorCodes } from './hub-errors.js';
import type { MethodCalls } from './methods.js';
import { ingestTelemetry, TelemetryRejected } from './telemetry.js';

export { TelemetryRejected };

/** `$rid` (and other query values) from a `…/?$rid=…` topic tail. */
function queryOf(topic: string): URLSearchParams {
  const q = topic.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : topic.slice(q + 1));
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/**
 * Answers a twin request on `$iothub/twin/res/{tail}`, as IoT Hub does only to a device subscribed to
 * `$iothub/twin/res/#`: one that never subscribed gets nothing (the request itself is still carried out).
 */
function respondTwin(context: EmulatorContext, deviceId: string, tail: string, body: Buffer): void {
  if (!context.links.isSubscribed(deviceId, '$iothub/twin/res/#')) return;
  context.links.send(deviceId, `$iothub/twin/res/${tail}`, body);
}

/**
 * Handles one PUBLISH from a device, before it is acknowledged. Rejects with `TelemetryRejected` for anything IoT
 * Hub would refuse, which closes the device's connection. `retained` = the PUBLISH carried the retain flag.
 */
export async function handleDevicePublish(
  context: EmulatorContext,
  methods: MethodCalls,
  deviceId: string,
  topic: string,
  payload: Buffer,
  retained = false,
): Promise<void> {
  const hubId = hubDeviceId(context, deviceId);
  const eventsPrefix = `devices/${hubId}/messages/events`;
  if (topic === eventsPrefix || topic.startsWith(`${eventsPrefix}/`)) {
    const bag = topic.slice(eventsPrefix.length + 1);
    const stored = await ingestTelemetry(context, deviceId, bag, Buffer.byteLength(topic), payload, retained);
    context.log.debug('telemetry', { deviceId, sequence: stored.sequence, duplicate: stored.duplicate });
    return;
  }
  if (topic.startsWith('$iothub/twin/GET/')) {
    const rid = queryOf(topic).get('$rid') ?? '';
    const twin = context.twins.get(deviceId);
    const document = { desired: sectionDocument(twin.desired), reported: sectionDocument(twin.reported) };
    respondTwin(context, deviceId, `200/?$rid=${rid}`, json(document));
    return;
  }
  if (topic.startsWith('$iothub/twin/PATCH/properties/reported/')) {
    const rid = queryOf(topic).get('$rid') ?? '';
    let patch: unknown;
    try {
      patch = JSON.parse(payload.toString('utf8'));
    } catch {
      patch = undefined;
    }
    const refused =
      patch === undefined
        ? { title: 'Malformed JSON', detail: 'the patch is not valid JSON' }
        : twinPatchProblem(patch, 'device');
    if (refused) {
      const message = `${refused.title}: ${refused.detail}`;
      const body = hubErrorBody(hubErrorCodes.argumentInvalid, message, context.now());
      respondTwin(context, deviceId, `400/?$rid=${rid}`, json(body));
      return;
    }
    const section = context.twins.patch(deviceId, 'reported', patch as JsonObject);
    context.events.emit('twin.changed', { deviceId, side: 'reported', document: sectionDocument(section) });
    respondTwin(context, deviceId, `204/?$rid=${rid}&$version=${section.version}`, Buffer.alloc(0));
    return;
  }
  // Any 32-bit integer is a status IoT Hub relays to the caller (0, 1000, -1 alike), not only HTTP's three digits.
  const methodResponse = /^\$iothub\/methods\/res\/(-?\d{1,10})\/\?(.*)$/.exec(topic);
  const status = Number(methodResponse?.[1]);
  if (methodResponse && status >= -(2 ** 31) && status < 2 ** 31) {
    const rid = new URLSearchParams(methodResponse[2]).get('$rid') ?? '';
    methods.settle(deviceId, rid, status, payload);
    return;
  }
  throw new TelemetryRejected(`device may not publish to ${topic}`);
}
