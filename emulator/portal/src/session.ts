/**
 * What the portal's URL fragment carries and what the tab remembers. The fragment is never sent to a server:
 * `#apiToken=…` signs in (and is removed from the address bar at once), `#operation=…` opens one provisioning
 * operation (a link a device can show as a QR code: it never holds the token), `#device=…` opens one device.
 */

export interface FragmentParts {
  apiToken?: string;
  operation?: string;
  device?: string;
}

/** Reads the fragment (`#a=1&b=2`, with or without the `#`). Blank values count as absent. */
export function readFragment(hash: string): FragmentParts {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const value = (key: string) => {
    const text = params.get(key)?.trim();
    return text ? text : undefined;
  };
  const parts: FragmentParts = {};
  const apiToken = value('apiToken');
  const operation = value('operation');
  const device = value('device');
  if (apiToken !== undefined) parts.apiToken = apiToken;
  if (operation !== undefined) parts.operation = operation;
  if (device !== undefined) parts.device = device;
  return parts;
}

/** The fragment without the API token (other keys kept, in order); empty when nothing is left. */
export function fragmentWithoutToken(hash: string): string {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  params.delete('apiToken');
  const rest = params.toString();
  return rest ? `#${rest}` : '';
}

/** The fragment that opens one provisioning operation. */
export function operationFragment(id: string): string {
  return `#${new URLSearchParams({ operation: id })}`;
}

/** Key/value storage of this tab (sessionStorage; in memory where the browser refuses it). */
export interface TabStore {
  get(key: string): string | null;
  set(key: string, value: string): void;
  remove(key: string): void;
}

export function tabStore(storage: () => Storage): TabStore {
  const memory = new Map<string, string>();
  return {
    get(key) {
      try {
        return storage().getItem(key);
      } catch {
        return memory.get(key) ?? null;
      }
    },
    set(key, value) {
      try {
        storage().setItem(key, value);
      } catch {
        memory.set(key, value);
      }
    },
    remove(key) {
      try {
        storage().removeItem(key);
      } catch {
        memory.delete(key);
      }
    },
  };
}
