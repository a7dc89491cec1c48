import { basename } from 'node:path';
import { type EmulatorContext, hubDeviceId } from '../context.js';
import { uploadContainer } from '../state/blobs.js';
import { fileView } from './hub-files.js';
import { knownDeviceOf, managedBy, managementBase } from './management-auth.js';
import { problem, type Router } from './router.js';

/**
 * The files devices uploaded (IoT Hub file upload), for the portal and scripts: `GET …/devices/{id}/files` lists
 * them, `GET …/devices/{id}/files/{name}` downloads one. Bearer = the API token, as for the rest of the API.
 */
export function addManagementFiles(router: Router, context: EmulatorContext): void {
  const managed = managedBy(context);

  router.on(
    'GET',
    `${managementBase}/devices/:deviceId/files`,
    managed((request) => {
      const deviceId = knownDeviceOf(context, request);
      const files = context.blobs.files(uploadContainer, `${hubDeviceId(context, deviceId)}/`);
      return { status: 200, body: files.map((file) => fileView(context, deviceId, file)) };
    }),
  );

  router.on(
    'GET',
    `${managementBase}/devices/:deviceId/files/*`,
    managed((request) => {
      const deviceId = knownDeviceOf(context, request);
      const name = request.params['*'] ?? '';
      const content = context.blobs.get(uploadContainer, `${hubDeviceId(context, deviceId)}/${name}`);
      if (!content)
        return problem(404, 'File not found', `device ${deviceId} uploaded no file named ${name}`);
      return {
        status: 200,
        headers: {
          'content-type': 'application/octet-stream',
          'content-disposition': contentDisposition(basename(name)),
          'x-content-type-options': 'nosniff',
          // Opened in a tab rather than saved, it is still never a page.
          'content-security-policy': "default-src 'none'; sandbox",
          'cache-control': 'no-store',
        },
        body: content,
      };
    }),
  );
}

/** `attachment` with an ASCII fallback name and the exact name in RFC 5987 form. */
function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, '_') || 'file';
  const exact = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${exact}`;
}
