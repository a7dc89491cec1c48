import type { EmulatorContext } from '../context.js';
import { type IotHubBroker, sectionDocument } from '../mqtt/hub.js';
import {
  DeviceNotListening,
  InvalidMethodResponse,
  MethodTimeout,
  maxMethodPayloadDepth,
} from '../mqtt/methods.js';
import { maxQueuedCloudMessages, type QueuedCloudMessage } from '../state/cloud-to-device.js';
import type { JsonObject } from '../state/merge-patch.js';
import type { StoredMessage } from '../state/messages.js';
import type { OperationStatus } from '../state/provisioning.js';
import { nestsDeeperThan, twinPatchProblem } from '../state/twin-rules.js';
import { defaultSettings, settingProblem, type WorkspaceSettings } from '../state/workspace.js';
import { cloudMessageRequest } from './cloud-message-request.js';
import { knownDeviceOf, managedBy, managementBase } from './management-auth.js';
import { HttpProblem, problem, type Request, type Router } from './router.js';
import { requireObject, requireString } from './validate.js';
import type { CloudMessageView, MessageView } from './wire.js';

const maxC2dBytes = 64 * 1024;
const operationStatuses: OperationStatus[] = ['pending', 'approved', 'cancelled', 'expired'];

/** The management API of SPEC §6, for the portal, tests and CI scripts; bearer = the API token. */
export function addManagementApi(router: Router, context: EmulatorContext, hub: IotHubBroker): void {
  const base = managementBase;

  const managed = managedBy(context);
  const knownDevice = (request: Request) => knownDeviceOf(context, request);

  router.on(
    'GET',
    `${base}/provisioning-operations`,
    managed((request) => {
      const status = request.url.searchParams.get('status');
      if (status !== null && !operationStatuses.includes(status as OperationStatus)) {
        return problem(400, 'Invalid status', `status must be one of ${operationStatuses.join(', ')}`);
      }
      return {
        status: 200,
        body: context.provisioning.list((status as OperationStatus | null) ?? undefined),
      };
    }),
  );

  router.on(
    'GET',
    `${base}/provisioning-operations/:id`,
    managed((request) => {
      const operation = context.provisioning.get(request.params.id ?? '');
      return operation ? { status: 200, body: operation } : problem(404, 'Provisioning operation not found');
    }),
  );

  for (const [action, decision] of [
    ['approve', 'approved'],
    ['cancel', 'cancelled'],
  ] as const) {
    router.on(
      'PUT',
      `${base}/provisioning-operations/${action}`,
      managed(async (request) => {
        const id = requireString(requireObject(await request.json()), 'provisioningOperationId');
        const operation = context.provisioning.decide(id, decision);
        if (!operation) return problem(404, 'Provisioning operation not found');
        if (operation.status !== decision) {
          return problem(
            409,
            `Operation is ${operation.status}`,
            `only a pending operation can be ${decision}`,
          );
        }
        context.log.info(`provisioning operation ${decision}`, { provisioningOperationId: id });
        context.operationExpiry.forget(id);
        context.events.emit(
          decision === 'approved' ? 'operation.approved' : 'operation.cancelled',
          operation,
        );
        return { status: 200, body: operation };
      }),
    );
  }

  router.on(
    'GET',
    `${base}/devices`,
    managed(() => ({
      status: 200,
      body: context.devices.list().map((device) => ({
        deviceId: device.deviceId,
        connected: hub.isConnected(device.deviceId),
        lastSeen: device.lastSeen === null ? null : new Date(device.lastSeen).toISOString(),
      })),
    })),
  );

  router.on(
    'GET',
    `${base}/devices/:deviceId/messages`,
    managed((request) => {
      const deviceId = knownDevice(request);
      const query = request.url.searchParams;
      const after = query.get('after');
      const limit = query.get('limit');
      const last = query.get('last');
      const afterValue = after === null ? 0 : Number(after);
      const limitValue = limit === null ? 100 : Number(limit);
      if (!Number.isSafeInteger(afterValue) || afterValue < 0) return problem(400, 'Invalid after');
      if (!Number.isSafeInteger(limitValue) || limitValue < 1 || limitValue > 1000) {
        return problem(400, 'Invalid limit', 'limit must be 1-1000');
      }
      const stream = query.get('stream') ?? undefined;
      if (last !== null) {
        // The newest `last` messages (after `after`), oldest first: where a live view starts.
        const lastValue = Number(last);
        if (!Number.isSafeInteger(lastValue) || lastValue < 1 || lastValue > 1000) {
          return problem(400, 'Invalid last', 'last must be 1-1000');
        }
        const start = Math.max(afterValue, context.messages.sequenceBeforeLast(deviceId, lastValue, stream));
        const page = context.messages.list(deviceId, { after: start, limit: lastValue, stream });
        return { status: 200, body: { items: page.items.map(messageView), next: page.next } };
      }
      const page = context.messages.list(deviceId, { after: afterValue, limit: limitValue, stream });
      return { status: 200, body: { items: page.items.map(messageView), next: page.next } };
    }),
  );

  router.on(
    'GET',
    `${base}/devices/:deviceId/batches`,
    managed((request) => ({ status: 200, body: context.messages.batches(knownDevice(request)) })),
  );

  router.on(
    'GET',
    `${base}/devices/:deviceId/twin`,
    managed((request) => {
      const twin = context.twins.get(knownDevice(request));
      return {
        status: 200,
        body: { desired: sectionDocument(twin.desired), reported: sectionDocument(twin.reported) },
      };
    }),
  );

  router.on(
    'PATCH',
    `${base}/devices/:deviceId/twin/desired`,
    managed(async (request) => {
      const deviceId = knownDevice(request);
      const body = await request.json();
      const refused = twinPatchProblem(body);
      if (refused) return problem(400, refused.title, refused.detail);
      const patch = body as JsonObject;
      const section = context.twins.patch(deviceId, 'desired', patch);
      hub.pushDesired(deviceId, patch, section);
      context.events.emit('twin.changed', { deviceId, side: 'desired', document: sectionDocument(section) });
      return { status: 200, body: sectionDocument(section) };
    }),
  );

  router.on(
    'POST',
    `${base}/devices/:deviceId/c2d-messages`,
    managed(async (request) => {
      const deviceId = knownDevice(request);
      const { properties, expiresAt } = cloudMessageRequest(request.url.searchParams, context.now());
      const payload = await request.body(maxC2dBytes);
      const mid = hub.sendCloudMessage(deviceId, properties, payload, expiresAt);
      if (mid === undefined) {
        return problem(
          403,
          'Device queue full',
          `the device already has ${maxQueuedCloudMessages} cloud-to-device messages waiting (IoT Hub's limit)`,
        );
      }
      return { status: 202, body: { mid, queued: true } };
    }),
  );

  router.on(
    'GET',
    `${base}/devices/:deviceId/c2d-messages`,
    managed((request) => ({
      status: 200,
      body: context.cloudMessages.list(knownDevice(request)).map(cloudMessageView),
    })),
  );

  router.on(
    'GET',
    `${base}/devices/:deviceId/connections`,
    managed((request) => ({ status: 200, body: context.connections.list(knownDevice(request)) })),
  );

  router.on(
    'POST',
    `${base}/devices/:deviceId/methods/:name`,
    managed(async (request) => {
      const deviceId = knownDevice(request);
      const timeout = Number(request.url.searchParams.get('timeoutSeconds') ?? 30);
      if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 300) {
        return problem(400, 'Invalid timeoutSeconds', 'timeoutSeconds must be in (0, 300]');
      }
      // The body decides, not content-length: a chunked body has none. No body at all means a null payload.
      const limit = 128 * 1024;
      const payload = (await request.body(limit)).length === 0 ? null : await request.json(limit);
      if (nestsDeeperThan(payload, maxMethodPayloadDepth)) {
        return problem(
          400,
          'Payload too deep',
          `a method payload nests at most ${maxMethodPayloadDepth} levels`,
        );
      }
      try {
        const result = await hub.methods.invoke(deviceId, request.params.name ?? '', payload, timeout * 1000);
        return { status: 200, body: result };
      } catch (error) {
        if (error instanceof DeviceNotListening) return problem(404, 'Device not connected', error.message);
        if (error instanceof MethodTimeout) return problem(504, 'Method timed out', error.message);
        if (error instanceof InvalidMethodResponse)
          return problem(502, 'Invalid method response', error.message);
        throw error;
      }
    }),
  );

  router.on(
    'DELETE',
    `${base}/devices/:deviceId/connection`,
    managed((request) => {
      const deviceId = knownDevice(request);
      return hub.disconnect(deviceId) ? { status: 204 } : problem(404, 'Device not connected');
    }),
  );

  router.on(
    'DELETE',
    `${base}/devices/:deviceId/registration-token`,
    managed((request) => {
      const revoked = context.provisioning.revokeDeviceTokens(knownDevice(request));
      return { status: 200, body: { revoked } };
    }),
  );

  router.on(
    'GET',
    `${base}/settings`,
    managed(() => ({ status: 200, body: context.workspace.settings })),
  );

  router.on(
    'PATCH',
    `${base}/settings`,
    managed(async (request) => {
      const body = requireObject(await request.json());
      const settings = context.workspace.updateSettings(validSettingsPatch(body));
      // Like a disabled IoT Hub device: its connections end at once (and reconnecting is refused).
      if (body.disabled === true) hub.disconnectAll('the workspace was disabled');
      return { status: 200, body: settings };
    }),
  );
}

function validSettingsPatch(body: Record<string, unknown>): Partial<WorkspaceSettings> {
  for (const [key, value] of Object.entries(body)) {
    const refused = settingProblem(key, value);
    if (!Object.hasOwn(defaultSettings, key)) throw new HttpProblem(400, 'Unknown setting', refused);
    if (refused) throw new HttpProblem(400, `Invalid ${key}`, refused);
  }
  return body as Partial<WorkspaceSettings>;
}

export function messageView(message: StoredMessage): MessageView {
  const { payload, ...rest } = message;
  return { ...rest, payloadBase64: payload.toString('base64') };
}

export function cloudMessageView(message: QueuedCloudMessage): CloudMessageView {
  return {
    mid: message.mid,
    properties: message.properties,
    payloadBase64: message.payload.toString('base64'),
    enqueuedAt: new Date(message.enqueuedAt).toISOString(),
    expiresAt: new Date(message.expiresAt).toISOString(),
    deliveryCount: message.deliveryCount,
  };
}
