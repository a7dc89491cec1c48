/**
 * One panel per device, and how the service page hears that it runs. With `shared: true` the SDK lets any number of
 * windows use the device, but only one may be the panel (it samples the sensor and answers `identify`): the panel
 * holds a Web Lock of its own for its whole life. Once its device has started (registered), it says so on a
 * BroadcastChannel, for a service page that found no panel open, or the device not provisioned yet.
 */

const lockName = (database: string) => `spotflow-kiosk-panel:${database}`;
/** The databases this page is the panel of (a start again after a failure keeps the lock it has). */
const held = new Set<string>();
const channelName = (database: string) => `spotflow-kiosk:${database}`;

/** Another tab or window is the panel of this database. */
export class PanelLockedError extends Error {
  override name = 'PanelLockedError';
  readonly code = 'DATABASE_LOCKED';
}

/**
 * Makes this page the panel of `database` until it closes. `wait`: until the other panel closes; else it fails at
 * once with {@link PanelLockedError}. Without Web Locks (no secure context) it returns: the SDK's start says why.
 */
export async function becomePanel(database: string, wait: boolean): Promise<void> {
  if (navigator.locks === undefined || held.has(database)) return;
  const granted = await new Promise<boolean>((resolve) => {
    void navigator.locks.request(lockName(database), { ifAvailable: !wait }, (lock) => {
      resolve(lock !== null);
      // Held until the page goes: the browser releases it then, also when the page crashes.
      return lock === null ? undefined : new Promise<never>(() => {});
    });
  });
  if (!granted) {
    throw new PanelLockedError(
      `Another tab or window is already the panel of this device (database "${database}")`,
    );
  }
  held.add(database);
}

/** Whether a tab or window of this origin is the panel of `database` now (false without Web Locks). */
export async function isPanelOpen(database: string): Promise<boolean> {
  if (navigator.locks === undefined) return false;
  const { held = [] } = await navigator.locks.query();
  return held.some((lock) => lock.name === lockName(database));
}

/** Tells the service pages of `database` that the panel's device has started. */
export function announcePanel(database: string): void {
  const channel = new BroadcastChannel(channelName(database));
  channel.postMessage('panel-started');
  channel.close();
}

/** Calls `listener` whenever a panel of `database` says its device has started. */
export function onPanelStarted(database: string, listener: () => void): void {
  const channel = new BroadcastChannel(channelName(database));
  channel.onmessage = (event: MessageEvent<unknown>) => {
    if (event.data === 'panel-started') listener();
  };
}
