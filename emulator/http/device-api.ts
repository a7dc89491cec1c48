import { randomBytes } from 'node:crypto';
import { deviceView, type EmulatorContext, hubDeviceId } from '../context.js';
import { createSasToken } from '../mqtt/sas.js';
import { problem } from './problem.js';
import { bearer, readJson } from './request.js';
import type { HttpApp, HttpContext } from './server.js';
import { deviceIdRule, isValidDeviceId, requireObject, requireString, sameSecret } from './validate.js';

const cancelledType = '/problems/deviceProvisioning/provisioningOperationCancelled';
const expiredType = '/problems/deviceProvisioning/provisioningOperationExpired';

/** The platform's device-facing HTTP API (SPEC §2): provisioning, token refresh and registration. */
export function addDeviceApi(app: HttpApp, context: EmulatorContext): void {
  const { workspace, provisioning } = context;

  /** 401 for a wrong provisioning token, 423 for a disabled workspace; undefined when the call may go on. */
  const provisioningGate = (c: HttpContext) => {
    if (!sameSecret(bearer(c), workspace.identity.provisioningToken)) {
      return problem(401, 'Unauthorized', 'the provisioning token is not valid');
    }
    if (workspace.settings.disabled) return problem(423, 'Workspace disabled', 'the workspace is disabled');
    return undefined;
  };

  app.post('/provisioning-operations/init', async (c) => {
    const refused = provisioningGate(c);
    if (refused) return refused;
    const body = requireObject(await readJson(c));
    const requested = body.deviceId;
    if (requested !== undefined && requested !== null && !isValidDeviceId(requested)) {
      return problem(400, 'Invalid device ID', `device IDs are ${deviceIdRule}`);
    }
    const deviceId = typeof requested === 'string' ? requested : `device-${randomBytes(4).toString('hex')}`;
    const operation = provisioning.start(deviceId);
    context.log.info('provisioning operation started', {
      deviceId,
      provisioningOperationId: operation.provisioningOperationId,
      verificationCode: operation.verificationCode,
      status: operation.status,
    });
    context.events.emit('operation.created', operation);
    context.operationExpiry.watch(operation.provisioningOperationId);
    return c.json({
      provisioningOperationId: operation.provisioningOperationId,
      verificationCode: operation.verificationCode,
      expirationTime: operation.expirationTime,
    });
  });

  app.put('/provisioning-operations/complete', async (c) => {
    const refused = provisioningGate(c);
    if (refused) return refused;
    const id = requireString(requireObject(await readJson(c)), 'provisioningOperationId');
    const outcome = provisioning.complete(id);
    switch (outcome.kind) {
      case 'pending':
        return c.json({ status: 'pending' }, 202);
      case 'cancelled':
        return problem(
          410,
          'Provisioning operation cancelled',
          'a technician cancelled the operation',
          cancelledType,
        );
      case 'expired':
        return problem(
          410,
          'Provisioning operation expired',
          'the operation expired before approval',
          expiredType,
        );
      case 'unknown':
        return problem(404, 'Provisioning operation not found');
      case 'issued': {
        const { registrationToken, expirationTime } = outcome;
        return c.json(expirationTime ? { registrationToken, expirationTime } : { registrationToken });
      }
    }
  });

  app.put('/devices/registration-tokens/refresh', async (c) => {
    const refused = provisioningGate(c);
    if (refused) return refused;
    const token = requireString(requireObject(await readJson(c)), 'registrationToken', 4096);
    const issued = provisioning.refresh(token);
    if (!issued)
      return problem(401, 'Unauthorized', 'the registration token is not valid, expired or was revoked');
    return c.json(issued);
  });

  app.put('/devices/register', async (c) => {
    const token = bearer(c);
    const valid = token === undefined ? undefined : provisioning.validToken(token);
    if (!valid)
      return problem(401, 'Unauthorized', 'the registration token is not valid, expired or was revoked');
    if (workspace.settings.disabled) return problem(423, 'Workspace disabled', 'the workspace is disabled');
    const body = requireObject(await readJson(c));
    if (body.connectionStringType !== 'SharedAccessSignature') {
      return problem(
        400,
        'Unsupported connection string type',
        'connectionStringType must be "SharedAccessSignature"',
      );
    }
    const device = context.devices.register(valid.deviceId);
    const hubHostName = context.hubHostName();
    const hubId = hubDeviceId(context, valid.deviceId);
    const expiresAt = Math.floor(context.now() / 1000) + workspace.settings.sasTokenLifetimeSeconds;
    const sas = createSasToken(`${hubHostName}/devices/${hubId}`, device.sasKey, expiresAt);
    context.log.info('device registered', { deviceId: valid.deviceId });
    context.events.emit(
      'device.registered',
      deviceView(context, device, context.links.client(valid.deviceId) !== undefined),
    );
    return c.json({
      connectionString: `HostName=${hubHostName};DeviceId=${hubId};SharedAccessSignature=${sas}`,
      connectionStringType: 'SharedAccessSignature',
      connectionStringExpiration: new Date(expiresAt * 1000).toISOString(),
      iotHubHostName: hubHostName,
      ...(valid.expiresAt === null
        ? {}
        : {
            tokenRemainingLifetime: `PT${Math.max(0, Math.floor((valid.expiresAt - context.now()) / 1000))}S`,
          }),
    });
  });
}
