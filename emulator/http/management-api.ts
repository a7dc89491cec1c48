import { deviceView, type EmulatorContext } from '../context.js';
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
import { HttpProblem, problem } from './problem.js';
import { queryOf, readBody, readJson } from './request.js';
import type { HttpApp, HttpContext } from './server.js';
import { requireObject, requireString } from './validate.js';
import type { CloudMessageView, MessageView } from './wire.js';

const maxC2dBytes = 64 * 1024;
const operationStatuses: OperationStatus[] = ['pending', 'approved', 'cancelled', 'expired'];

/** The management API of SPEC §6, for the portal, tests and CI scripts; bearer = the API token. */
export function addManagementApi(app: HttpApp, context: EmulatorContext, hub: IotHubBroker): void {
  const base = managementBase;

  const managed = managedBy(context);
  const knownDevice = (c: HttpContext) => knownDeviceOf(context, c);

  app.get(
    `${base}/provisioning-operations`,
    managed((c) => {
      const status = queryOf(c).get('status');
      if (status !== null && !operationStatuses.includes(status as OperationStatus)) {
        return problem(400, 'Invalid status', `status must be one of ${operationStatuses.join(', ')}`);
      }
      return c.json(context.provisioning.list((status as OperationStatus | null) ?? undefined));
    }),
  );

  app.get(
    `${base}/provisioning-operations/:id`,
    managed((c) => {
      const operation = context.provisioning.get(c.req.param('id') ?? '');
      return operation ? c.json(operation) : problem(404, 'Provisioning operation not found');
    }),
  );

  for (const [action, decision] of [
    ['approve', 'approved'],
    ['cancel', 'cancelled'],
  ] as const) {
    app.put(
      `${base}/provisioning-operations/${action}`,
      managed(async (c) => {
        const id = requireString(requireObject(await readJson(c)), 'provisioningOperationId');
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
        return c.json(operation);
      }),
    );
  }

  app.get(
    `${base}/devices`,
    managed((c) =>
      c.json(
        context.devices.list().map((device) => deviceView(context, device, hub.isConnected(device.deviceId))),
      ),
    ),
  );

  app.get(
    `${base}/devices/:deviceId/messages`,
    managed((c) => {
      const deviceId = knownDevice(c);
      const query = queryOf(c);
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
        return c.json({ items: page.items.map(messageView), next: page.next });
      }
      const page = context.messages.list(deviceId, { after: afterValue, limit: limitValue, stream });
      return c.json({ items: page.items.map(messageView), next: page.next });
    }),
  );

  app.get(
    `${base}/devices/:deviceId/batches`,
    managed((c) => c.json(context.messages.batches(knownDevice(c)))),
  );

  app.get(
    `${base}/devices/:deviceId/twin`,
    managed((c) => {
      const twin = context.twins.get(knownDevice(c));
      return c.json({ desired: sectionDocument(twin.desired), reported: sectionDocument(twin.reported) });
    }),
  );

  app.patch(
    `${base}/devices/:deviceId/twin/desired`,
    managed(async (c) => {
      const deviceId = knownDevice(c);
      const body = await readJson(c);
      const refused = twinPatchProblem(body);
      if (refused) return problem(400, refused.title, refused.detail);
      const patch = body as JsonObject;
      const section = context.twins.patch(deviceId, 'desired', patch);
      hub.pushDesired(deviceId, patch, section);
      context.events.emit('twin.changed', { deviceId, side: 'desired', document: sectionDocument(section) });
      return c.json(sectionDocument(section));
    }),
  );

  app.post(
    `${base}/devices/:deviceId/c2d-messages`,
    managed(async (c) => {
      const deviceId = knownDevice(c);
      const { properties, expiresAt } = cloudMessageRequest(queryOf(c), context.now());
      const payload = await readBody(c, maxC2dBytes);
      const mid = hub.sendCloudMessage(deviceId, properties, payload, expiresAt);
      if (mid === undefined) {
        return problem(
          403,
          'Device queue full',
          `the device already has ${maxQueuedCloudMessages} cloud-to-device messages waiting (IoT Hub's limit)`,
        );
      }
      return c.json({ mid, queued: true }, 202);
    }),
  );

  app.get(
    `${base}/devices/:deviceId/c2d-messages`,
    managed((c) => c.json(context.cloudMessages.list(knownDevice(c)).map(cloudMessageView))),
  );

  app.get(
    `${base}/devices/:deviceId/connections`,
    managed((c) => c.json(context.connections.list(knownDevice(c)))),
  );

  app.post(
    `${base}/devices/:deviceId/methods/:name`,
    managed(async (c) => {
      const deviceId = knownDevice(c);
      const timeout = Number(queryOf(c).get('timeoutSeconds') ?? 30);
      if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 300) {
        return problem(400, 'Invalid timeoutSeconds', 'timeoutSeconds must be in (0, 300]');
      }
      // The body decides, not content-length: a chunked body has none. No body at all means a null payload.
      const limit = 128 * 1024;
      const payload = (await readBody(c, limit)).length === 0 ? null : await readJson(c, limit);
      if (nestsDeeperThan(payload, maxMethodPayloadDepth)) {
        return problem(
          400,
          'Payload too deep',
          `a method payload nests at most ${maxMethodPayloadDepth} levels`,
        );
      }
      try {
        const result = await hub.methods.invoke(deviceId, c.req.param('name') ?? '', payload, timeout * 1000);
        return c.json(result);
      } catch (error) {
        if (error instanceof DeviceNotListening) return problem(404, 'Device not connected', error.message);
        if (error instanceof MethodTimeout) return problem(504, 'Method timed out', error.message);
        if (error instanceof InvalidMethodResponse)
          return problem(502, 'Invalid method response', error.message);
        throw error;
      }
    }),
  );

  app.delete(
    `${base}/devices/:deviceId/connection`,
    managed((c) => {
      const deviceId = knownDevice(c);
      return hub.disconnect(deviceId) ? c.body(null, 204) : problem(404, 'Device not connected');
    }),
  );

  app.delete(
    `${base}/devices/:deviceId/registration-token`,
    managed((c) => {
      const revoked = context.provisioning.revokeDeviceTokens(knownDevice(c));
      return c.json({ revoked });
    }),
  );

  app.get(
    `${base}/settings`,
    managed((c) => c.json(context.workspace.settings)),
  );

  app.patch(
    `${base}/settings`,
    managed(async (c) => {
      const body = requireObject(await readJson(c));
      const settings = context.workspace.updateSettings(validSettingsPatch(body));
      // Like a disabled IoT Hub device: its connections end at once (and reconnecting is refused).
      if (body.disabled === true) hub.disconnectAll('the workspace was disabled');
      return c.json(settings);
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
