import type { EmulatorContext } from '../context.js';
import { type Handler, HttpProblem, problem, type Request } from './router.js';
import { sameSecret } from './validate.js';

/** The management API's path prefix: everything lives under the workspace. */
export const managementBase = '/workspaces/:ws';

/** Wraps a management handler: the API token as bearer, and the workspace in the path, or 401/404. */
export function managedBy(context: EmulatorContext) {
  return (handler: Handler): Handler =>
    (request: Request) => {
      if (!sameSecret(request.bearer(), context.workspace.identity.apiToken)) {
        return problem(401, 'Unauthorized', 'the API token is not valid');
      }
      if (request.params.ws !== context.workspace.identity.workspaceId) {
        return problem(404, 'Workspace not found');
      }
      return handler(request);
    };
}

/** The device named in the path (`:deviceId`); throws 404 when it never registered. */
export function knownDeviceOf(context: EmulatorContext, request: Request): string {
  const deviceId = request.params.deviceId ?? '';
  if (!context.devices.get(deviceId)) throw new HttpProblem(404, 'Device not found');
  return deviceId;
}
