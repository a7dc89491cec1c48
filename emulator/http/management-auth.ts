import type { EmulatorContext } from '../context.js';
import { HttpProblem, problem } from './problem.js';
import { bearer } from './request.js';
import type { HttpContext, HttpHandler } from './server.js';
import { sameSecret } from './validate.js';

/** The management API's path prefix: everything lives under the workspace. */
export const managementBase = '/workspaces/:ws';

/** Wraps a management handler: the API token as bearer, and the workspace in the path, or 401/404. */
export function managedBy(context: EmulatorContext) {
  return (handler: HttpHandler): HttpHandler =>
    (c) => {
      if (!sameSecret(bearer(c), context.workspace.identity.apiToken)) {
        return problem(401, 'Unauthorized', 'the API token is not valid');
      }
      if (c.req.param('ws') !== context.workspace.identity.workspaceId) {
        return problem(404, 'Workspace not found');
      }
      return handler(c);
    };
}

/** The device named in the path (`:deviceId`); throws 404 when it never registered. */
export function knownDeviceOf(context: EmulatorContext, c: HttpContext): string {
  const deviceId = c.req.param('deviceId') ?? '';
  if (!context.devices.get(deviceId)) throw new HttpProblem(404, 'Device not found');
  return deviceId;
}
