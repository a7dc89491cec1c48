import { basename } from 'node:path';
import { type EmulatorContext, hubDeviceId } from '../context.js';
import { uploadContainer } from '../state/blobs.js';
import { fileView } from './hub-files.js';
import { knownDeviceOf, managedBy, managementBase } from './management-auth.js';
import { problem } from './problem.js';
import type { HttpApp } from './server.js';

/**
 * The files devices uploaded (IoT Hub file upload), for the portal and scripts: `GET …/devices/{id}/files` lists
 * them, `GET …/devices/{id}/files/{name}` downloads one. Bearer = the API token, as for the rest of the API.
 */
export function addManagementFiles(app: HttpApp, context: EmulatorContext): void {
  const managed = managedBy(context);

  app.get(
    `${managementBase}/devices/:deviceId/files`,
    managed((c) => {
      const deviceId = knownDeviceOf(context, c);
      const files = context.blobs.files(uploadContainer, `${hubDeviceId(context, deviceId)}/`);
      return c.json(files.map((file) => fileView(context, deviceId, file)));
    }),
  );

  app.get(
    `${managementBase}/devices/:deviceId/files/:name{.+}`,
    managed((c) => {
      const deviceId = knownDeviceOf(context, c);
      const name = c.req.param('name') ?? '';
      const content = context.blobs.get(uploadContainer, `${hubDeviceId(context, deviceId)}/${name}`);
      if (!content)
        return problem(404, 'File not found', `device ${deviceId} uploaded no file named ${name}`);
      // Buffers from the store sit on plain ArrayBuffers, never shared ones.
      return c.body(content as Uint8Array<ArrayBuffer>, 200, {
        'content-type': 'application/octet-stream',
        'content-disposition': contentDisposition(basename(name)),
        'x-content-type-options': 'nosniff',
        // Opened in a tab rather than saved, it is still never a page.
        'content-security-policy': "default-src 'none'; sandbox",
        'cache-control': 'no-store',
      });
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
