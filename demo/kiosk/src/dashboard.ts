/** The running device's tiles: readings, outbox, configuration, reported state, cloud messages; the flash. */

import type { Reading } from '../../shared/sensor.js';
import { byTest, setText } from './dom.js';

export interface ShownCloudMessage {
  text: string;
  properties: Record<string, string>;
  receivedAt: Date;
}

const maxCloudMessages = 5;

export class DashboardView {
  #sent = 0;
  #flashTimer: number | undefined;
  readonly #cloud: ShownCloudMessage[] = [];

  showReading(reading: Reading): void {
    setText(byTest('temperature'), reading.temperature.toFixed(2));
    setText(byTest('humidity'), reading.humidity.toFixed(1));
    const last = byTest('last-reading');
    const time = new Date(reading.at).toLocaleTimeString();
    setText(last, `${reading.temperature.toFixed(2)} °C · ${reading.humidity.toFixed(1)} % at ${time}`);
    last.dataset.reading = JSON.stringify(reading);
  }

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

  setSamplingInterval(intervalMs: number): void {
    setText(byTest('sampling-interval'), String(intervalMs));
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

  /** Adds a cloud-to-device message at the top of the list (the last five are kept), as text only. */
  addCloudMessage(message: ShownCloudMessage): void {
    this.#cloud.unshift(message);
    this.#cloud.length = Math.min(this.#cloud.length, maxCloudMessages);
    const items = this.#cloud.map((shown) => {
      const item = document.createElement('li');
      item.dataset.test = 'cloud-message';
      const text = document.createElement('p');
      text.className = 'cloud-text';
      text.dataset.test = 'cloud-message-text';
      text.textContent = shown.text;
      const meta = document.createElement('p');
      meta.className = 'small muted';
      meta.dataset.test = 'cloud-message-properties';
      const properties = Object.entries(shown.properties).map(([key, value]) => `${key}=${value}`);
      meta.textContent = `${shown.receivedAt.toLocaleTimeString()}${properties.length > 0 ? ` · ${properties.join(' · ')}` : ''}`;
      item.append(text, meta);
      return item;
    });
    byTest('cloud-messages').replaceChildren(...items);
    byTest('cloud-empty').hidden = true;
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
