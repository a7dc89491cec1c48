import type { FileView } from '../../../http/wire';
import { describeError, type ManagementApi } from '../api';
import { byId, el, say } from '../dom';
import { bytesLabel, localTime } from '../format';
import type { LiveStream } from '../live';
import { DeviceListLoader } from './device-list-loader';

interface Row {
  file: FileView;
  item: HTMLLIElement;
  meta: HTMLSpanElement;
}

/** Files the device uploaded (IoT Hub file upload), newest first, each with a download button. */
export class FilesView {
  readonly #list = byId('files');
  readonly #status = byId('files-status');
  readonly #empty = byId('files-empty');
  readonly #rows = new Map<string, Row>();
  readonly #loader = new DeviceListLoader(this.#status, 'files', {
    fetch: (id) => this.api.files(id),
    reset: () => this.#reset(),
    show: (items) => this.#show(items),
  });

  constructor(
    private readonly api: ManagementApi,
    live: LiveStream,
  ) {
    live.on('file.uploaded', ({ deviceId, file }) => {
      if (deviceId === this.#loader.deviceId) this.#upsert(file);
    });
  }

  open(deviceId: string): void {
    void this.#loader.open(deviceId);
  }

  load(): Promise<void> {
    return this.#loader.load();
  }

  #reset(): void {
    this.#rows.clear();
    this.#list.replaceChildren();
    this.#refresh();
  }

  #show(files: Awaited<ReturnType<ManagementApi['files']>>): void {
    for (const file of files.reverse()) this.#upsert(file);
  }

  #upsert(file: FileView): void {
    let row = this.#rows.get(file.name);
    if (!row) {
      row = this.#row(file);
      this.#rows.set(file.name, row);
    }
    row.file = file;
    this.#list.prepend(row.item);
    const notice = file.notified
      ? file.succeeded
        ? 'upload notified'
        : 'the device reported a failed upload'
      : 'no upload notification yet';
    row.meta.textContent = `${bytesLabel(file.size)} · ${new Date(file.uploadedAt).toLocaleString()} · ${notice}`;
    row.meta.title = localTime(file.uploadedAt);
    row.item.dataset.notified = String(file.notified);
    this.#refresh();
  }

  #row(file: FileView): Row {
    const meta = el('span', { class: 'meta' });
    const error = el('p', { class: 'status', test: 'file-error', attrs: { role: 'alert' } });
    const download = el('button', {
      class: 'quiet',
      text: 'Download',
      test: 'file-download',
      attrs: { type: 'button', 'aria-label': `Download ${file.name}` },
    });
    download.addEventListener('click', () => void this.#download(file.name, download, error));
    const item = el(
      'li',
      { test: 'file', data: { fileName: file.name } },
      el('span', { class: 'name', text: file.name, title: file.name }),
      meta,
      download,
      error,
    );
    return { file, item, meta };
  }

  /** Fetches the file with the API token, then hands it to the browser as a download. */
  async #download(name: string, button: HTMLButtonElement, error: HTMLElement): Promise<void> {
    const deviceId = this.#loader.deviceId;
    if (deviceId === undefined) return;
    button.disabled = true;
    say(error, 'Downloading…', 'busy');
    try {
      const blob = await this.api.download(deviceId, name);
      const url = URL.createObjectURL(blob);
      const link = el('a', { attrs: { href: url, download: name.split('/').pop() || 'file' } });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      say(error, '');
    } catch (failure) {
      say(error, `Could not download ${name}: ${describeError(failure)}`, 'error');
    } finally {
      button.disabled = false;
    }
  }

  #refresh(): void {
    this.#empty.hidden = this.#rows.size !== 0;
  }
}
