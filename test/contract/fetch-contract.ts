/**
 * What the SDK needs of a platform's `fetch` (Platform.fetch in src/ports.ts), against a running emulator: JSON in
 * and out with an authorization header (a CORS preflight in browsers, whose pages are on another origin), error
 * statuses as responses, and aborts. Framework-free: each case throws on failure.
 */
import { equal, ok } from './assert.js';
import type { ContractCase } from './database-contract.js';

export interface FetchContractContext {
  fetch: typeof fetch;
  /** The emulator's base URL, e.g. `http://localhost:5080` (no trailing slash). */
  baseUrl: string;
  provisioningToken: string;
  /** The management API token and workspace, for a GET. */
  apiToken: string;
  workspaceId: string;
  /** A URL on which nothing listens (a port just closed). */
  unreachableUrl: string;
}

let counter = 0;

function init(ctx: FetchContractContext, token: string, signal?: AbortSignal) {
  return ctx.fetch(`${ctx.baseUrl}/provisioning-operations/init`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deviceId: `fetch-contract-${Date.now()}-${++counter}` }),
    ...(signal === undefined ? {} : { signal }),
  });
}

async function rejectsWithAbortError(promise: Promise<unknown>, what: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  ok(error !== undefined, `${what}: expected a rejection`);
  equal((error as { name?: unknown }).name, 'AbortError', `${what}: the error name`);
}

export const fetchContract: ContractCase<FetchContractContext>[] = [
  {
    name: 'POSTs a JSON body with an authorization header and reads the JSON reply',
    async run(ctx) {
      const response = await init(ctx, ctx.provisioningToken);
      equal(response.status, 200, 'status');
      ok(response.headers.get('content-type')?.includes('application/json'), 'a readable JSON content type');
      const body = (await response.json()) as {
        provisioningOperationId?: unknown;
        verificationCode?: unknown;
      };
      equal(typeof body.provisioningOperationId, 'string', 'provisioningOperationId');
      equal(typeof body.verificationCode, 'string', 'verificationCode');
    },
  },
  {
    name: 'GETs JSON with a query string',
    async run(ctx) {
      const response = await ctx.fetch(
        `${ctx.baseUrl}/workspaces/${ctx.workspaceId}/provisioning-operations?status=pending`,
        { headers: { authorization: `Bearer ${ctx.apiToken}` } },
      );
      equal(response.status, 200, 'status');
      ok(Array.isArray(await response.json()), 'a JSON array');
    },
  },
  {
    name: 'resolves error statuses as responses, with their problem body',
    async run(ctx) {
      const response = await init(ctx, 'not-a-valid-token');
      equal(response.status, 401, 'status');
      equal(response.ok, false, 'ok');
      const body = (await response.json()) as { title?: unknown };
      equal(typeof body.title, 'string', 'the problem title');
    },
  },
  {
    name: 'rejects with AbortError for an aborted signal, before and during the request',
    async run(ctx) {
      await rejectsWithAbortError(init(ctx, ctx.provisioningToken, AbortSignal.abort()), 'an aborted signal');
      const controller = new AbortController();
      const pending = init(ctx, ctx.provisioningToken, controller.signal);
      controller.abort();
      await rejectsWithAbortError(pending, 'an abort during the request');
    },
  },
  {
    name: 'rejects (TypeError) when nothing listens',
    async run(ctx) {
      const error = await ctx.fetch(ctx.unreachableUrl).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      ok(error instanceof TypeError, `expected a TypeError, got ${String(error)}`);
    },
  },
];
