/**
 * Browser-side half of the harness, bundled into the test pages: the ready marker the Node side waits for, and the
 * bridge that lets a Node test run a framework-free contract case (test/contract/*-contract.ts) in the page.
 * Needs no DOM types: the Node side imports its types too.
 */
export interface PageCase<Context> {
  name: string;
  run(ctx: Context): Promise<void>;
}

export type CaseResult = { ok: true } | { ok: false; error: string };

export interface ContractBridge {
  list(): string[];
  run(name: string, options?: unknown): Promise<CaseResult>;
}

declare global {
  var __ready: boolean | undefined;
  var __contract: ContractBridge | undefined;
}

/** Call last in a page's script: `openPage` waits for it. */
export function markReady(): void {
  globalThis.__ready = true;
}

export interface ContractHooks<Context> {
  /** Makes the context of one case; `options` is what the Node side passed to `runContractCase`. */
  context(options: unknown): Context | Promise<Context>;
  /** Runs after each case, passed or failed (close what the case left open). */
  afterEach?(ctx: Context): void | Promise<void>;
}

/** Exposes `cases` as `window.__contract` for `runContractCase` on the Node side. */
export function exposeContract<Context>(cases: PageCase<Context>[], hooks: ContractHooks<Context>): void {
  globalThis.__contract = {
    list: () => cases.map((c) => c.name),
    async run(name, options) {
      const found = cases.find((c) => c.name === name);
      if (found === undefined) return { ok: false, error: `no contract case named ${JSON.stringify(name)}` };
      let ctx: Context | undefined;
      try {
        ctx = await hooks.context(options);
        await found.run(ctx);
        return { ok: true };
      } catch (error) {
        return { ok: false, error: describe(error) };
      } finally {
        if (ctx !== undefined) await hooks.afterEach?.(ctx);
      }
    },
  };
}

/** Message, code, stack and the chain of causes, as text. */
export function describe(error: unknown, depth = 0): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const head = `${error.name}${code === undefined ? '' : ` [${String(code)}]`}: ${error.message}`;
  const stack = error.stack?.startsWith(`${error.name}:`)
    ? error.stack.split('\n').slice(1).join('\n')
    : error.stack;
  const cause =
    error.cause === undefined || depth > 4 ? '' : `\ncaused by ${describe(error.cause, depth + 1)}`;
  return `${head}\n${stack ?? ''}${cause}`;
}
