/**
 * The running device's tiles. {@link DeviceStateView}: the outbox, desired and reported state (the panel's and the
 * service page's); {@link DashboardView} adds the panel's readings, applied interval, cloud messages and flash.
 */

import type { Reading } from '../../shared/sensor.js';
import { byTest, element, setText } from './dom.js';

export interface ShownCloudMessage {
  text: string;
  properties: Record<string, string>;
  receivedAt: Date;
}

/** The newest few items of a list (hook `list`), newest first; `empty` (a hook) is shown until the first. */
export class RecentList<T> {
  readonly #items: T[] = [];

  constructor(
    private readonly list: string,
    private readonly empty: string,
    private readonly draw: (item: T) => HTMLLIElement,
    private readonly max = 5,
  ) {}

  add(item: T): void {
    this.#items.unshift(item);
    this.#items.length = Math.min(this.#items.length, this.max);
    byTest(this.list).replaceChildren(...this.#items.map(this.draw));
    byTest(this.empty).hidden = true;
  }
}

export class DeviceStateView {
  #sent = 0;

  setPending(count: number): void {
    setText(byTest('pending-count'), String(count));
  }

  countSent(): void {
    this.#sent++;
    setText(byTest('sent-count'), String(this.#sent));
  }

  setOffline(offline: boolean): void {
    byTest('offline-indicator').hidden = !offline;
    byTest('outbox').dataset.offline = String(offline);
  }

  setDesired(version: number, values: unknown): void {
    setText(byTest('desired-state'), `desired v${version}: ${JSON.stringify(values)}`);
  }

  /** The reported properties as they will be once sent, and whether the hub has acknowledged them all. */
  setReported(values: unknown, sent: boolean): void {
    const state = byTest('reported-state');
    setText(state, JSON.stringify(values, null, 1));
    state.dataset.sent = String(sent);
    const status = byTest('reported-status');
    setText(status, sent ? 'sent' : 'pending');
    status.dataset.sent = String(sent);
  }
}

export class DashboardView extends DeviceStateView {
  #flashTimer: number | undefined;
  readonly #cloud = new RecentList<ShownCloudMessage>('cloud-messages', 'cloud-empty', (shown) => {
    const properties = Object.entries(shown.properties).map(([key, value]) => `${key}=${value}`);
    return element(
      'li',
      { test: 'cloud-message' },
      element('p', { className: 'cloud-text', test: 'cloud-message-text', text: shown.text }),
      element('p', {
        className: 'small muted',
        test: 'cloud-message-properties',
        text: `${shown.receivedAt.toLocaleTimeString()}${properties.length > 0 ? ` · ${properties.join(' · ')}` : ''}`,
      }),
    );
  });

  showReading(reading: Reading): void {
    setText(byTest('temperature'), reading.temperature.toFixed(2));
    setText(byTest('humidity'), reading.humidity.toFixed(1));
    const last = byTest('last-reading');
    const time = new Date(reading.at).toLocaleTimeString();
    setText(last, `${reading.temperature.toFixed(2)} °C · ${reading.humidity.toFixed(1)} % at ${time}`);
    last.dataset.reading = JSON.stringify(reading);
  }

  setSamplingInterval(intervalMs: number): void {
    setText(byTest('sampling-interval'), String(intervalMs));
  }

  /** Adds a cloud-to-device message at the top of the list (the last five are kept), as text only. */
  addCloudMessage(message: ShownCloudMessage): void {
    this.#cloud.add(message);
  }

  /** Makes the panel flash for `seconds` (a CSS animation while `data-identifying="true"`). */
  flash(seconds: number): void {
    const panel = byTest('panel');
    panel.dataset.identifying = 'true';
    window.clearTimeout(this.#flashTimer);
    this.#flashTimer = window.setTimeout(() => {
      panel.dataset.identifying = 'false';
    }, seconds * 1000);
  }
}
