/**
 * Request/response over one dedicated worker, shared by the database and compression workers. The page side numbers
 * each call and settles it from the worker's reply; errors cross as a SpotflowError's code and message (a cause by
 * name and message), since an Error does not survive structured cloning with its code.
 */
import { isSpotflowError, SpotflowError, type SpotflowErrorCode } from '../../src/errors.js';

/** An error as it crosses to the page: a SpotflowError's code and message, the cause by name and message. */
export interface WireError {
  code: string;
  message: string;
  cause?: { name: string; message: string };
}

export type WorkerResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError }
  /** Not an answer: something the worker reports by itself (a background problem). */
  | { id: 0; notice: WireError };

/** What the worker side answers with: a value, and the buffers in it to hand over instead of copying. */
export interface WorkerReply {
  value: unknown;
  transfer?: Transferable[];
}

/** A request as the caller writes it: the connection numbers it. */
export type Unnumbered<Request> = Request extends unknown ? Omit<Request, 'id'> : never;

/** Notices kept for a listener not yet set (each kind is reported once, so a few are all there can be). */
const MAX_UNHEARD = 16;

/** The page's side: `call` posts a request and resolves with the worker's answer to it. */
export class WorkerConnection<Request extends { id: number }> {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: unknown) => void }
  >();
  #nextId = 1;
  #failure: SpotflowError | undefined;

  #onNotice: ((problem: SpotflowError) => void) | undefined;
  /** Notices that came before anyone listened (a problem found while opening): handed over when someone does. */
  #unheard: SpotflowError[] = [];

  /** Receives what the worker reports by itself (see `notify`), including what it reported before this was set. */
  set onNotice(listener: ((problem: SpotflowError) => void) | undefined) {
    this.#onNotice = listener;
    if (listener === undefined) return;
    for (const problem of this.#unheard.splice(0)) listener(problem);
  }

  /** @param failed the error every pending and later call gets when the worker fails to load or dies */
  constructor(worker: Worker, failed: (detail: string) => SpotflowError) {
    this.#worker = worker;
    this.#worker.onmessage = ({ data }: MessageEvent<WorkerResponse>) => {
      if ('notice' in data) {
        const problem = fromWire(data.notice);
        if (this.#onNotice) this.#onNotice(problem);
        else if (this.#unheard.length < MAX_UNHEARD) this.#unheard.push(problem);
        return;
      }
      const pending = this.#pending.get(data.id);
      if (pending === undefined) return;
      this.#pending.delete(data.id);
      if (data.ok) pending.resolve(data.value);
      else pending.reject(fromWire(data.error));
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(failed(event.message || 'no detail'));
    };
  }

  /** Whether the worker has failed or been terminated: every call from now on rejects. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  call(request: Unnumbered<Request>, transfer: Transferable[] = []): Promise<unknown> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id }, transfer);
    });
  }

  terminate(error: SpotflowError): void {
    this.#worker.terminate();
    this.#fail(error);
  }

  #fail(error: SpotflowError): void {
    this.#failure ??= error;
    for (const { reject } of this.#pending.values()) reject(this.#failure);
    this.#pending.clear();
  }
}

interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: WorkerResponse, transfer?: Transferable[]): void;
}

/**
 * The worker's side: answers each request with what `handle` resolves to. An error that is not a SpotflowError
 * becomes INTERNAL with `unexpected` as its message.
 */
export function serveRequests<Request extends { id: number }>(
  handle: (request: Request) => Promise<WorkerReply>,
  unexpected: string,
): void {
  const scope = globalThis as unknown as WorkerScope;
  scope.onmessage = ({ data: request }: MessageEvent<Request>) => {
    handle(request).then(
      ({ value, transfer }) => scope.postMessage({ id: request.id, ok: true, value }, transfer ?? []),
      (error: unknown) => scope.postMessage({ id: request.id, ok: false, error: toWire(error, unexpected) }),
    );
  };
}

/** The worker's side: reports `problem` to the page unasked (`WorkerConnection.onNotice`). */
export function notify(problem: SpotflowError): void {
  (globalThis as unknown as WorkerScope).postMessage({ id: 0, notice: toWire(problem, problem.message) });
}

function toWire(error: unknown, unexpected: string): WireError {
  const spotflow = isSpotflowError(error)
    ? error
    : new SpotflowError('INTERNAL', unexpected, { cause: error });
  const cause = spotflow.cause;
  return {
    code: spotflow.code,
    message: spotflow.message,
    ...(cause instanceof Error || cause instanceof DOMException
      ? { cause: { name: cause.name, message: cause.message } }
      : {}),
  };
}

function fromWire(error: WireError): SpotflowError {
  const cause = error.cause && Object.assign(new Error(error.cause.message), { name: error.cause.name });
  return new SpotflowError(error.code as SpotflowErrorCode, error.message, cause ? { cause } : undefined);
}

/** Resolves after the messages already queued for this worker (a message to itself goes behind them). */
export function afterQueuedMessages(): Promise<void> {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}
