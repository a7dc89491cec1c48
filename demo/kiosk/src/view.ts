/**
 * The pages' frame: device id, connection state, notices (bad config, locked database), errors ({@link FrameView},
 * also the service page's), and the panel's own provisioning screen and dashboard ({@link PanelView}).
 */
import { byTest, errorText, setText } from './dom.js';
import { renderQr } from './qr.js';

/** `waiting-for-panel`: the service page, until the panel's device has started (see service.ts). */
export type ConnectionState =
  | 'waiting-for-approval'
  | 'waiting-for-panel'
  | 'connecting'
  | 'connected'
  | 'offline';

export interface NoticeAction {
  label: string;
  run: () => void;
}

export class FrameView {
  readonly #state = byTest('connection-state');
  readonly #hint = byTest('network-hint');
  readonly #notice = byTest('notice');
  readonly #error = byTest('error');
  #noticeAction: (() => void) | undefined;

  constructor() {
    byTest('notice-action').addEventListener('click', () => {
      const run = this.#noticeAction;
      this.#noticeAction = undefined;
      byTest('notice-action').hidden = true;
      run?.();
    });
    const updateHint = () => {
      this.#hint.hidden = navigator.onLine;
    };
    window.addEventListener('online', updateHint);
    window.addEventListener('offline', updateHint);
    updateHint();
  }

  setDeviceId(deviceId: string): void {
    setText(byTest('device-id'), deviceId);
  }

  get connection(): ConnectionState {
    return this.#state.dataset.state as ConnectionState;
  }

  setConnection(state: ConnectionState): void {
    setText(this.#state, state);
    this.#state.dataset.state = state;
  }

  /** A message that takes the page's attention (bad config, locked database), with at most one button. */
  showNotice(title: string, text: string, action?: NoticeAction): void {
    setText(byTest('notice-title'), title);
    setText(byTest('notice-text'), text);
    const button = byTest<HTMLButtonElement>('notice-action');
    this.#noticeAction = action?.run;
    button.hidden = action === undefined;
    setText(button, action?.label ?? '');
    this.#notice.hidden = false;
  }

  hideNotice(): void {
    this.#notice.hidden = true;
  }

  /** The last error, as text; `undefined` clears it. */
  showError(error: unknown): void {
    const text = error === undefined ? '' : `${new Date().toLocaleTimeString()} ${errorText(error)}`;
    setText(this.#error, text);
    this.#error.dataset.at = error === undefined ? '' : new Date().toISOString();
  }
}

export class PanelView extends FrameView {
  readonly #provisioning = byTest('provisioning');
  readonly #dashboard = byTest('dashboard');

  override setConnection(state: ConnectionState): void {
    super.setConnection(state);
    if (state === 'connected') this.#provisioning.hidden = true;
  }

  /** The verification code, large, with the QR code and link of the portal's deep link to the operation. */
  showProvisioning(verificationCode: string, deepLink: () => string): void {
    this.hideNotice();
    setText(byTest('verification-code'), verificationCode);
    const qr = byTest<SVGSVGElement>('qr');
    const link = byTest<HTMLAnchorElement>('portal-link');
    try {
      const url = deepLink();
      renderQr(qr, url);
      link.href = url;
      setText(link, url);
      qr.removeAttribute('hidden');
      link.hidden = false;
    } catch (error) {
      // The code alone still lets a technician approve in the portal.
      qr.setAttribute('hidden', '');
      link.hidden = true;
      this.showError(error);
    }
    this.#provisioning.hidden = false;
    this.setConnection('waiting-for-approval');
  }

  showDashboard(): void {
    this.hideNotice();
    this.#provisioning.hidden = true;
    this.#dashboard.hidden = false;
  }

  override showNotice(title: string, text: string, action?: NoticeAction): void {
    this.#provisioning.hidden = true;
    super.showNotice(title, text, action);
  }
}
