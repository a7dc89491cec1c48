import { byId, type StatusKind, say } from '../dom';

/** The sign-in form: asks for the API token when the URL brought none (or the emulator refused it). */
export class LoginView {
  readonly #section = byId('login');
  readonly #form = byId('login-form', HTMLFormElement);
  readonly #input = byId('login-token', HTMLInputElement);
  readonly #submit = byId('login-submit', HTMLButtonElement);
  readonly #error = byId('login-error');
  readonly #operation = byId('login-operation');

  constructor(onToken: (token: string) => void) {
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      const token = this.#input.value.trim();
      if (!token) {
        this.say('Paste the API token first.', 'error');
        this.#input.focus();
        return;
      }
      onToken(token);
    });
  }

  /** Shows the form, with a message (an error, usually) and optionally the token to retry with. */
  show(message = '', kind: StatusKind = 'error', token = ''): void {
    this.#section.hidden = false;
    this.#submit.disabled = false;
    this.#input.value = token;
    this.say(message, kind);
    this.#input.focus();
  }

  hide(): void {
    this.#section.hidden = true;
    this.#input.value = '';
    this.say('');
  }

  checking(): void {
    this.#submit.disabled = true;
    this.say('Checking the token…', 'busy');
  }

  /** Says which operation the portal opens after sign-in (a deep link was followed). */
  announceOperation(id: string | undefined): void {
    this.#operation.hidden = id === undefined;
    this.#operation.textContent =
      id === undefined
        ? ''
        : `After you sign in, the portal shows provisioning operation ${id} for approval.`;
  }

  say(text: string, kind: StatusKind = 'error'): void {
    say(this.#error, text, kind);
    if (kind !== 'busy') this.#submit.disabled = false;
  }
}
