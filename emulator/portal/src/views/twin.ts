import type { TwinSectionDocument } from '../../../http/wire';
import { describeError, type ManagementApi } from '../api';
import { byId, say } from '../dom';
import { prettyJson } from '../format';
import type { LiveStream } from '../live';

type Side = 'desired' | 'reported';

/** Why a patch text is not a JSON merge patch, or the patch. */
export function parsePatch(source: string): { patch: Record<string, unknown> } | { error: string } {
  if (!source.trim()) return { error: 'Write a JSON object first, e.g. {"interval": 10}.' };
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (error) {
    return { error: `Not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: 'A merge patch must be a JSON object, e.g. {"interval": 10}.' };
  }
  return { patch: value as Record<string, unknown> };
}

/** The device twin (desired and reported, live) and the form that patches the desired properties. */
export class TwinView {
  readonly #status = byId('twin-status');
  readonly #form = byId('twin-form', HTMLFormElement);
  readonly #patch = byId('twin-patch', HTMLTextAreaElement);
  readonly #result = byId('twin-result');
  readonly #shown: Record<Side, string | undefined> = { desired: undefined, reported: undefined };
  #deviceId: string | undefined;
  #generation = 0;

  constructor(
    private readonly api: ManagementApi,
    live: LiveStream,
    private readonly isConnected: () => boolean,
  ) {
    live.on('twin.changed', ({ deviceId, side, document }) => {
      if (deviceId === this.#deviceId) this.#show(side, document);
    });
    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#submit();
    });
  }

  open(deviceId: string): void {
    this.#deviceId = deviceId;
    say(this.#result, '');
    void this.load();
  }

  async load(): Promise<void> {
    const deviceId = this.#deviceId;
    if (deviceId === undefined) return;
    const generation = ++this.#generation;
    for (const side of ['desired', 'reported'] as const) {
      this.#shown[side] = undefined;
      byId(`twin-${side}`).textContent = '…';
      byId(`${side}-version`).textContent = '';
    }
    try {
      const twin = await this.api.twin(deviceId);
      if (generation !== this.#generation) return;
      say(this.#status, '');
      this.#show('desired', twin.desired);
      this.#show('reported', twin.reported);
    } catch (error) {
      if (generation === this.#generation) {
        say(this.#status, `Could not load the twin: ${describeError(error)}`, 'error');
      }
    }
  }

  #show(side: Side, document: TwinSectionDocument): void {
    const { $version, ...properties } = document;
    const text = prettyJson(properties);
    const pre = byId(`twin-${side}`);
    byId(`${side}-version`).textContent = `$version ${$version}`;
    pre.dataset.version = String($version);
    if (text === this.#shown[side]) return;
    const first = this.#shown[side] === undefined;
    this.#shown[side] = text;
    pre.textContent = text;
    if (!first) {
      pre.classList.remove('changed');
      void pre.offsetWidth; // restarts the highlight
      pre.classList.add('changed');
    }
  }

  async #submit(): Promise<void> {
    const deviceId = this.#deviceId;
    if (deviceId === undefined) return;
    const parsed = parsePatch(this.#patch.value);
    if ('error' in parsed) {
      say(this.#result, parsed.error, 'error');
      this.#patch.focus();
      return;
    }
    const button = this.#form.querySelector('button');
    if (button) button.disabled = true;
    say(this.#result, 'Sending…', 'busy');
    try {
      const desired = await this.api.patchDesired(deviceId, parsed.patch);
      if (deviceId !== this.#deviceId) return;
      this.#show('desired', desired);
      say(
        this.#result,
        `Desired properties are now $version ${desired.$version}${
          this.isConnected() ? ', sent to the device.' : '; the device gets them when it connects.'
        }`,
        'ok',
      );
    } catch (error) {
      if (deviceId === this.#deviceId) say(this.#result, describeError(error), 'error');
    } finally {
      if (button) button.disabled = false;
    }
  }
}
