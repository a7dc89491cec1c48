import { ApiError, describeError, type ManagementApi } from '../api';
import { byId, say } from '../dom';
import { prettyJson } from '../format';

/** Checks the method form's fields: the call to make, or what is wrong. */
export function methodCall(
  name: string,
  payloadText: string,
  timeoutText: string,
): { name: string; payload: unknown; timeout: number } | { error: string } {
  const trimmed = name.trim();
  if (!trimmed) return { error: 'Give the name of the method to call.' };
  const timeout = Number(timeoutText || 30);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 300) {
    return { error: 'The timeout is a number of seconds from 1 to 300.' };
  }
  let payload: unknown;
  if (payloadText.trim()) {
    try {
      payload = JSON.parse(payloadText);
    } catch (error) {
      return {
        error: `The payload is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  }
  return { name: trimmed, payload, timeout };
}

/** The direct method form: calls a method on the device and shows its answer or why there is none. */
export class MethodView {
  readonly #form = byId('method-form', HTMLFormElement);
  readonly #status = byId('method-status');
  readonly #output = byId('method-output');
  #deviceId: string | undefined;

  constructor(private readonly api: ManagementApi) {
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#submit();
    });
  }

  open(deviceId: string): void {
    this.#deviceId = deviceId;
    say(this.#status, '');
    this.#output.hidden = true;
  }

  async #submit(): Promise<void> {
    const deviceId = this.#deviceId;
    if (deviceId === undefined) return;
    const call = methodCall(
      byId('method-name', HTMLInputElement).value,
      byId('method-payload', HTMLTextAreaElement).value,
      byId('method-timeout', HTMLInputElement).value,
    );
    this.#output.hidden = true;
    if ('error' in call) {
      say(this.#status, call.error, 'error');
      return;
    }
    const button = this.#form.querySelector('button');
    if (button) button.disabled = true;
    say(this.#status, `Waiting for ${deviceId} to answer ${call.name} (up to ${call.timeout} s)…`, 'busy');
    try {
      const result = await this.api.callMethod(deviceId, call.name, call.payload, call.timeout);
      if (deviceId !== this.#deviceId) return;
      const success = result.status >= 200 && result.status < 300;
      say(this.#status, `${call.name} answered with status ${result.status}.`, success ? 'ok' : 'error');
      this.#output.textContent = prettyJson({ status: result.status, payload: result.payload ?? null });
      this.#output.className = success ? '' : 'failed';
      this.#output.hidden = false;
    } catch (error) {
      if (deviceId !== this.#deviceId) return;
      say(this.#status, explain(error, call.name, call.timeout), 'error');
    } finally {
      if (button) button.disabled = false;
    }
  }
}

/** The API's refusal in the words of this form. */
function explain(error: unknown, name: string, timeout: number): string {
  if (error instanceof ApiError && error.status === 504) {
    return `No answer to ${name} within ${timeout} s (${error.describe()}).`;
  }
  if (error instanceof ApiError && error.status === 404 && error.title === 'Device not connected') {
    return `The device is offline or does not listen for methods (${error.describe()}).`;
  }
  return describeError(error);
}
