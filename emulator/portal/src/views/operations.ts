import type { OperationView } from '../../../http/wire';
import { describeError, type ManagementApi } from '../api';
import { byId, el, placeAt, say } from '../dom';
import { countdown, localTime } from '../format';
import type { LiveStream } from '../live';

interface Row {
  operation: OperationView;
  item: HTMLLIElement;
  expires: HTMLSpanElement;
  approve: HTMLButtonElement;
  cancel: HTMLButtonElement;
  error: HTMLParagraphElement;
  busy: boolean;
}

/** Pending provisioning operations: the verification code of each, and Approve / Cancel. */
export class OperationsView {
  readonly #rows = new Map<string, Row>();
  readonly #list = byId('ops');
  readonly #status = byId('ops-status');
  readonly #count = byId('ops-count');
  readonly #empty = byId('ops-empty');
  /** Ids decided here: a list fetched before the decision may still hold them. */
  readonly #decided = new Set<string>();

  constructor(
    private readonly api: ManagementApi,
    live: LiveStream,
  ) {
    live.on('operation.created', (operation) => {
      if (operation.status === 'pending') this.#upsert(operation);
      this.#refresh();
    });
    for (const type of ['operation.approved', 'operation.cancelled', 'operation.expired'] as const) {
      live.on(type, (operation) => this.#drop(operation.provisioningOperationId));
    }
  }

  async load(): Promise<void> {
    let pending: OperationView[];
    try {
      pending = await this.api.operations('pending');
    } catch (error) {
      say(this.#status, `Could not load the operations: ${describeError(error)}`, 'error');
      return;
    }
    if (this.#status.dataset.state === 'error') say(this.#status, '');
    const fresh = pending.filter((op) => !this.#decided.has(op.provisioningOperationId));
    const seen = new Set(fresh.map((op) => op.provisioningOperationId));
    for (const [id, row] of this.#rows) {
      if (!seen.has(id) && !row.busy) this.#remove(id);
    }
    fresh.forEach((operation, index) => {
      placeAt(this.#list, this.#upsert(operation).item, index);
    });
    this.#refresh();
  }

  /** Updates the countdowns (every second). */
  tick(): void {
    const now = Date.now();
    for (const row of this.#rows.values()) {
      const left = countdown(row.operation.expirationTime, now);
      const expired = left === 'expired';
      row.expires.textContent = expired ? 'expired' : `expires ${left}`;
      row.item.classList.toggle('expired', expired);
      if (expired && !row.busy) row.approve.disabled = true;
    }
  }

  #upsert(operation: OperationView): Row {
    const id = operation.provisioningOperationId;
    let row = this.#rows.get(id);
    if (!row) {
      row = this.#row(operation);
      this.#rows.set(id, row);
      this.#list.append(row.item);
    }
    row.operation = operation;
    return row;
  }

  #row(operation: OperationView): Row {
    const approve = el('button', {
      text: 'Approve',
      test: 'operation-approve',
      attrs: { type: 'button', 'aria-label': `Approve ${operation.deviceId}` },
    });
    const cancel = el('button', {
      class: 'danger',
      text: 'Cancel',
      test: 'operation-cancel',
      attrs: { type: 'button', 'aria-label': `Cancel ${operation.deviceId}` },
    });
    const expires = el('span', { class: 'expires', title: localTime(operation.expirationTime) });
    const error = el('p', { class: 'status row-error', test: 'operation-error', attrs: { role: 'alert' } });
    const item = el(
      'li',
      {
        test: 'operation',
        data: {
          operationId: operation.provisioningOperationId,
          verificationCode: operation.verificationCode,
          deviceId: operation.deviceId,
        },
      },
      el(
        'div',
        { class: 'op-head' },
        el('span', { class: 'op-device', text: operation.deviceId, title: operation.deviceId }),
        expires,
      ),
      el(
        'div',
        { class: 'op-body' },
        el('span', {
          class: 'code',
          text: operation.verificationCode,
          title: 'verification code',
          test: 'operation-code',
        }),
        el('span', { class: 'actions' }, approve, cancel),
      ),
      error,
    );
    const row: Row = { operation, item, expires, approve, cancel, error, busy: false };
    approve.addEventListener('click', () => void this.#decide(row, 'approve'));
    cancel.addEventListener('click', () => void this.#decide(row, 'cancel'));
    return row;
  }

  async #decide(row: Row, action: 'approve' | 'cancel'): Promise<void> {
    const { provisioningOperationId: id, deviceId, verificationCode } = row.operation;
    row.busy = true;
    row.approve.disabled = true;
    row.cancel.disabled = true;
    say(row.error, action === 'approve' ? 'Approving…' : 'Cancelling…', 'busy');
    try {
      await this.api.decide(id, action);
      this.#decided.add(id);
      row.busy = false;
      this.#remove(id);
      say(
        this.#status,
        `${action === 'approve' ? 'Approved' : 'Cancelled'} ${deviceId} (${verificationCode}).`,
        'ok',
      );
      this.#refresh();
    } catch (error) {
      row.busy = false;
      say(row.error, describeError(error), 'error');
      row.approve.disabled = false;
      row.cancel.disabled = false;
      this.tick();
    }
  }

  #drop(id: string): void {
    const row = this.#rows.get(id);
    if (!row || row.busy) return;
    this.#remove(id);
    this.#refresh();
  }

  #remove(id: string): void {
    this.#rows.get(id)?.item.remove();
    this.#rows.delete(id);
  }

  #refresh(): void {
    const count = this.#rows.size;
    this.#count.textContent = String(count);
    this.#count.className = count ? 'count hot' : 'count';
    this.#empty.hidden = count !== 0;
    this.tick();
  }
}
