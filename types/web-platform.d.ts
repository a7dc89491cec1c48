/**
 * The web-platform APIs the portable core (`src/`) may use, and only those: `tsconfig.core.json` type-checks `src/`
 * against ES2023 plus this file, without the DOM library or Node's types, so using anything else there (`window`,
 * `navigator`, `document`, `Buffer`…) fails to compile. Each is present in Node 20+, browsers, workers, Bun and Deno.
 * Only the members the core calls are declared; add one here when the core needs it, after checking every runtime
 * has it. (Not part of the build: the other configs have the DOM library or Node's types, which declare all of these.)
 */
export {};

declare global {
  interface Event {
    readonly type: string;
    readonly target: object | null;
  }

  interface AbortSignal {
    readonly aborted: boolean;
    readonly reason: unknown;
    addEventListener(type: 'abort', listener: (event: Event) => void, options?: { once?: boolean }): void;
    removeEventListener(type: 'abort', listener: (event: Event) => void): void;
  }
  var AbortSignal: {
    prototype: AbortSignal;
    new (): AbortSignal;
    timeout(milliseconds: number): AbortSignal;
  };

  interface AbortController {
    readonly signal: AbortSignal;
    abort(reason?: unknown): void;
  }
  var AbortController: {
    prototype: AbortController;
    new (): AbortController;
  };

  interface TextEncoder {
    encode(input?: string): Uint8Array<ArrayBuffer>;
  }
  var TextEncoder: {
    prototype: TextEncoder;
    new (): TextEncoder;
  };

  interface TextDecoder {
    decode(input?: ArrayBufferView | ArrayBuffer, options?: { stream?: boolean }): string;
  }
  var TextDecoder: {
    prototype: TextDecoder;
    new (label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }): TextDecoder;
  };

  interface URL {
    readonly protocol: string;
    readonly host: string;
    readonly hostname: string;
    readonly pathname: string;
  }
  var URL: {
    prototype: URL;
    new (url: string, base?: string): URL;
  };

  interface URLSearchParams {
    get(name: string): string | null;
  }
  var URLSearchParams: {
    prototype: URLSearchParams;
    new (init?: string): URLSearchParams;
  };

  interface Headers {
    get(name: string): string | null;
  }

  type ReadableStreamReadResult = { done: false; value: Uint8Array } | { done: true; value?: undefined };
  interface ReadableStreamDefaultReader {
    read(): Promise<ReadableStreamReadResult>;
    cancel(reason?: unknown): Promise<void>;
    releaseLock(): void;
  }
  interface ReadableStream {
    getReader(): ReadableStreamDefaultReader;
    cancel(reason?: unknown): Promise<void>;
  }

  interface Response {
    readonly status: number;
    readonly headers: Headers;
    readonly body: ReadableStream | null;
  }

  interface RequestInit {
    method?: string;
    headers?: Record<string, string>;
    body?: Uint8Array<ArrayBuffer> | string;
    signal?: AbortSignal;
  }

  function fetch(input: string | URL, init?: RequestInit): Promise<Response>;

  interface SubtleCrypto {
    digest(algorithm: 'SHA-256', data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer>;
  }
  var crypto: {
    readonly subtle: SubtleCrypto;
    getRandomValues<T extends Uint8Array>(array: T): T;
    randomUUID?(): string;
  };

  function btoa(data: string): string;

  var console: {
    debug(...data: unknown[]): void;
    info(...data: unknown[]): void;
    log(...data: unknown[]): void;
    warn(...data: unknown[]): void;
    error(...data: unknown[]): void;
  };
}
