import { randomBytes, randomUUID } from 'node:crypto';
import type { EmulatorDatabase } from './database.js';

/** Workspace settings that the management API (`PATCH /workspaces/{ws}/settings`) can change. */
export interface WorkspaceSettings {
  /** A disabled workspace answers device calls with 423 and refuses MQTT connections. */
  disabled: boolean;
  /** Approve every provisioning operation as soon as it starts. */
  autoApprove: boolean;
  /** Lifetime of the SAS token in connection strings returned by `register`. */
  sasTokenLifetimeSeconds: number;
  /** Lifetime of registration tokens; 0 = they do not expire. */
  registrationTokenLifetimeSeconds: number;
  /** How long a provisioning operation waits for approval before it expires. */
  provisioningOperationLifetimeSeconds: number;
}

export const defaultSettings: WorkspaceSettings = {
  disabled: false,
  autoApprove: false,
  sasTokenLifetimeSeconds: 3600,
  registrationTokenLifetimeSeconds: 7 * 24 * 3600,
  provisioningOperationLifetimeSeconds: 15 * 60,
};

export interface WorkspaceIdentity {
  workspaceId: string;
  provisioningToken: string;
  apiToken: string;
}

export function randomToken(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/** The single workspace an emulator instance serves: its identity, secrets and settings. */
export class Workspace {
  readonly identity: WorkspaceIdentity;
  #settings: WorkspaceSettings;

  constructor(
    private readonly db: EmulatorDatabase,
    fixed: Partial<WorkspaceIdentity>,
    initialSettings: Partial<WorkspaceSettings>,
  ) {
    this.identity = {
      workspaceId: this.#value('workspaceId', fixed.workspaceId, () => randomUUID()),
      provisioningToken: this.#value(
        'provisioningToken',
        fixed.provisioningToken,
        () => `pt-${randomToken()}`,
      ),
      apiToken: this.#value('apiToken', fixed.apiToken, () => `api-${randomToken()}`),
    };
    const stored = this.#read('settings');
    this.#settings = { ...defaultSettings, ...(stored ? JSON.parse(stored) : {}), ...initialSettings };
    this.#write('settings', JSON.stringify(this.#settings));
  }

  get settings(): Readonly<WorkspaceSettings> {
    return this.#settings;
  }

  updateSettings(patch: Partial<WorkspaceSettings>): WorkspaceSettings {
    this.#settings = { ...this.#settings, ...patch };
    this.#write('settings', JSON.stringify(this.#settings));
    return this.#settings;
  }

  /** A fixed value wins (and is stored); otherwise the stored one; otherwise a new one is made and stored. */
  #value(key: string, fixed: string | undefined, make: () => string): string {
    const value = fixed ?? this.#read(key) ?? make();
    this.#write(key, value);
    return value;
  }

  #read(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  #write(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }
}
