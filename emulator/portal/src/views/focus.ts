import type { OperationView } from '../../../http/wire';
import { ApiError, describeError, type ManagementApi } from '../api';
import { byId, el, say } from '../dom';
import { countdown, localTime } from '../format';
import type { LiveStream } from '../live';

const statusText: Record<OperationView['status'], string> = {
  pending: 'Waiting for approval',
  approved: 'Approved: the device can finish provisioning',
  cancelled: 'Cancelled',
  expired: 'Expired before anyone approved it',
};

/**
 * One provisioning operation, opened by a deep link (`/portal#operation=<id>`, the QR code a device shows): its
 * device, verification code and state, with Approve and Cancel while it is pending. Stays current from live events.
 */
export class FocusView {
  readonly #section = byId('focus');
  readonly #body = byId('focus-body');
  readonly #result = byId('focus-result');
  #id: string | undefined;
  #operation: OperationView | undefined;
  #expires: HTMLElement | undefined;
  #busy = false;

  constructor(
    private readonly api: ManagementApi,
    live: LiveStream,
  ) {
    for (const type of [
      'operation.created',
      'operation.approved',
      'operation.cancelled',
      'operation.expired',
    ] as const) {
      live.on(type, (operation) => {
        if (operation.provisioningOperationId === this.#id) this.#render(operation);
      });
    }
  }

  /** Opens the operation (or nothing); scrolls it into view. */
  async open(id: string | undefined): Promise<void> {
    this.#id = id;
    this.#operation = undefined;
    this.#section.hidden = id === undefined;
    say(this.#result, '');
    if (id === undefined) return;
    this.#section.dataset.operationId = id;
    this.#body.replaceChildren(el('p', { class: 'meta', text: `Loading operation ${id}…` }));
    this.#section.scrollIntoView({ block: 'start' });
    await this.load();
  }

  async load(): Promise<void> {
    const id = this.#id;
    if (id === undefined) return;
    try {
      const operation = await this.api.operation(id);
      if (id === this.#id) this.#render(operation);
    } catch (error) {
      if (id !== this.#id) return;
      const missing = error instanceof ApiError && error.status === 404;
      this.#section.dataset.status = missing ? 'unknown' : 'error';
      this.#body.replaceChildren(
        el('p', {
          class: 'status error',
          text: missing
            ? `There is no provisioning operation ${id} in this workspace. The link may come from another emulator, or the device started a new operation.`
            : `Could not load operation ${id}: ${describeError(error)}`,
        }),
      );
    }
  }

  tick(): void {
    if (!this.#expires || !this.#operation) return;
    const left = countdown(this.#operation.expirationTime);
    this.#expires.textContent =
      this.#operation.status === 'pending' ? (left === 'expired' ? 'expired' : `expires ${left}`) : '';
  }

  #render(operation: OperationView): void {
    this.#operation = operation;
    const section = this.#section;
    section.dataset.operationId = operation.provisioningOperationId;
    section.dataset.verificationCode = operation.verificationCode;
    section.dataset.deviceId = operation.deviceId;
    section.dataset.status = operation.status;
    this.#expires = el('span', { class: 'meta', title: localTime(operation.expirationTime) });
    const state = el('p', {
      class: `state-label ${operation.status}`,
      text: statusText[operation.status],
      test: 'focused-operation-status',
    });
    const children: HTMLElement[] = [
      el('p', { class: 'meta', text: `Device ${operation.deviceId}` }),
      el('span', { class: 'code', text: operation.verificationCode, test: 'operation-code' }),
      el('p', { class: 'meta', text: 'Check that the device shows this code before you approve.' }),
      state,
      this.#expires,
    ];
    if (operation.status === 'pending') {
      const approve = el('button', { text: 'Approve', test: 'operation-approve', attrs: { type: 'button' } });
      const cancel = el('button', {
        class: 'danger',
        text: 'Cancel',
        test: 'operation-cancel',
        attrs: { type: 'button' },
      });
      approve.disabled = this.#busy;
      cancel.disabled = this.#busy;
      approve.addEventListener('click', () => void this.#decide(operation, 'approve', [approve, cancel]));
      cancel.addEventListener('click', () => void this.#decide(operation, 'cancel', [approve, cancel]));
      children.push(el('div', { class: 'actions' }, approve, cancel));
    }
    this.#body.replaceChildren(...children);
    this.tick();
  }

  async #decide(
    operation: OperationView,
    action: 'approve' | 'cancel',
    buttons: HTMLButtonElement[],
  ): Promise<void> {
    this.#busy = true;
    for (const button of buttons) button.disabled = true;
    say(this.#result, action === 'approve' ? 'Approving…' : 'Cancelling…', 'busy');
    try {
      const decided = await this.api.decide(operation.provisioningOperationId, action);
      this.#busy = false;
      say(this.#result, action === 'approve' ? `Approved ${decided.deviceId}.` : 'Cancelled.', 'ok');
      if (decided.provisioningOperationId === this.#id) this.#render(decided);
    } catch (error) {
      this.#busy = false;
      say(this.#result, describeError(error), 'error');
      for (const button of buttons) button.disabled = false;
      void this.load();
    }
  }
}
