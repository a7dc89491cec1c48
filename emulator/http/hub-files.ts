import { randomBytes, randomUUID } from 'node:crypto';
import { deviceIdFromHubId, type EmulatorContext, hubDeviceId } from '../context.js';
import { verifySasToken } from '../mqtt/sas.js';
import { maxBlobBlocks, maxBlobBytes, type StoredFile, uploadContainer } from '../state/blobs.js';
import { HttpProblem, problem } from './problem.js';
import { queryOf, readBody, readJson } from './request.js';
import type { HttpApp, HttpContext } from './server.js';
import { requireObject, requireString } from './validate.js';
import type { FileView } from './wire.js';

/** Azure block ids are base64 of at most 64 bytes. */
const maxBlockIdLength = 88;

/** The device a hub HTTPS call is for, once its `Authorization: SharedAccessSignature …` header checks out. */
function authenticateHubCall(context: EmulatorContext, c: HttpContext): string {
  const hubId = c.req.param('hubId') ?? '';
  const deviceId = deviceIdFromHubId(context, hubId);
  const device = deviceId === undefined ? undefined : context.devices.get(deviceId);
  const verdict = device
    ? verifySasToken(
        c.req.header('authorization') ?? '',
        hubId,
        device.sasKey,
        Math.floor(context.now() / 1000),
      ).verdict
    : 'unknown device';
  if (verdict !== 'valid' || deviceId === undefined) {
    throw new HttpProblem(401, 'Unauthorized', `the SAS token is not valid for this device (${verdict})`);
  }
  return deviceId;
}

/** The management API's view of a device's stored blob: its name as the device gave it. */
export function fileView(context: EmulatorContext, deviceId: string, file: StoredFile): FileView {
  const prefix = `${hubDeviceId(context, deviceId)}/`;
  return {
    name: file.name.startsWith(prefix) ? file.name.slice(prefix.length) : file.name,
    size: file.size,
    uploadedAt: new Date(file.uploadedAt).toISOString(),
    notified: file.notified,
    succeeded: file.isSuccess,
  };
}

/** Tells the live stream that a device's blob was written or its upload notified. */
function announceFile(context: EmulatorContext, deviceId: string, blobName: string): void {
  const file = context.blobs.file(uploadContainer, blobName);
  if (file) context.events.emit('file.uploaded', { deviceId, file: fileView(context, deviceId, file) });
}

/** IoT Hub's file-upload calls (SPEC §3) and the blob endpoint the upload goes to. */
export function addHubFileApi(app: HttpApp, context: EmulatorContext): void {
  app.post('/devices/:hubId/files', async (c) => {
    const deviceId = authenticateHubCall(context, c);
    const blobName = requireString(requireObject(await readJson(c)), 'blobName', 1024);
    if (blobName.includes('..') || blobName.startsWith('/')) return problem(400, 'Invalid blobName');
    const upload = {
      correlationId: randomUUID(),
      deviceId,
      blobName: `${c.req.param('hubId')}/${blobName}`,
      sasToken: `?sv=2021-08-06&sr=b&sp=cw&se=${encodeURIComponent(
        new Date(context.now() + 3600_000).toISOString(),
      )}&sig=${randomBytes(24).toString('base64url')}`,
    };
    context.blobs.startUpload(upload);
    return c.json({
      correlationId: upload.correlationId,
      hostName: context.hubHostName(),
      containerName: uploadContainer,
      blobName: upload.blobName,
      sasToken: upload.sasToken,
    });
  });

  // Older clients send the correlation id in the body, current ones (Microsoft's Node SDK) in the path.
  const notify = async (c: HttpContext) => {
    const deviceId = authenticateHubCall(context, c);
    const body = requireObject(await readJson(c));
    const correlationId = c.req.param('correlationId') ?? requireString(body, 'correlationId');
    if (typeof body.isSuccess !== 'boolean')
      return problem(400, 'Invalid isSuccess', 'isSuccess must be a boolean');
    if (!context.blobs.completeUpload(deviceId, correlationId, body.isSuccess)) {
      return problem(404, 'Unknown correlationId');
    }
    const blobName = context.blobs.uploadBlobName(deviceId, correlationId);
    if (blobName !== undefined) announceFile(context, deviceId, blobName);
    return c.body(null, 204);
  };
  app.post('/devices/:hubId/files/notifications', notify);
  app.post('/devices/:hubId/files/notifications/:correlationId', notify);

  // Azure Storage's blob PUT: a whole block blob, or Put Block + Put Block List as @azure/storage-blob does.
  app.put(`/${uploadContainer}/:blobName{.+}`, async (c) => {
    const blobName = c.req.param('blobName') ?? '';
    const query = queryOf(c);
    const upload = context.blobs.uploadFor(blobName, query.get('sig') ?? '');
    if (upload === 'expired') return problem(403, 'Forbidden', 'the SAS token has expired');
    if (upload === 'no-upload') {
      return problem(403, 'Forbidden', 'the SAS token does not grant writing this blob');
    }
    const comp = query.get('comp');
    if (comp === 'block') {
      const blockId = query.get('blockid');
      if (!blockId) return problem(400, 'Missing blockid');
      if (blockId.length > maxBlockIdLength) {
        return problem(400, 'Invalid blockid', `a block id is at most ${maxBlockIdLength} characters`);
      }
      // Staged blocks count against the same cap as a blob written at once.
      const staged = context.blobs.staged(uploadContainer, blobName, blockId);
      if (staged.blocks >= maxBlobBlocks) {
        return problem(409, 'Block count exceeds limit', `a blob stages at most ${maxBlobBlocks} blocks`);
      }
      const room = maxBlobBytes - staged.bytes;
      const tooLarge = problem(
        413,
        'Payload Too Large',
        `a blob's blocks may not exceed ${maxBlobBytes} bytes`,
      );
      if (room <= 0) return tooLarge;
      let content: Buffer;
      try {
        content = await readBody(c, room);
      } catch (error) {
        if (error instanceof HttpProblem && error.status === 413) return tooLarge;
        throw error;
      }
      context.blobs.stageBlock(uploadContainer, blobName, blockId, content);
      return c.body(null, 201);
    }
    if (comp === 'blocklist') {
      // Room for a list of maxBlobBlocks ids of the longest kind.
      const xml = (await readBody(c, 8 * 1024 * 1024)).toString('utf8');
      const ids = [...xml.matchAll(/<(?:Latest|Committed|Uncommitted)>([^<]*)<\//g)].map((m) => m[1]!);
      if (ids.length === 0) return problem(400, 'Invalid block list');
      if (ids.length > maxBlobBlocks) {
        return problem(
          409,
          'Block count exceeds limit',
          `a block list names at most ${maxBlobBlocks} blocks`,
        );
      }
      const outcome = context.blobs.commitBlocks(uploadContainer, blobName, ids);
      if (outcome === 'unknown-block') return problem(400, 'Unknown block id');
      if (outcome === 'too-large') {
        return problem(413, 'Payload Too Large', `a blob may not exceed ${maxBlobBytes} bytes`);
      }
      announceFile(context, upload.deviceId, blobName);
      return c.body(null, 201);
    }
    if (comp !== null)
      return problem(400, 'Unsupported comp', `comp=${comp} is not supported by the emulator`);
    if (c.req.header('x-ms-blob-type') !== 'BlockBlob') {
      return problem(400, 'Missing x-ms-blob-type', 'x-ms-blob-type must be BlockBlob');
    }
    context.blobs.put(uploadContainer, blobName, await readBody(c, maxBlobBytes));
    announceFile(context, upload.deviceId, blobName);
    return c.body(null, 201);
  });
}
