import { randomBytes, randomUUID } from 'node:crypto';
import type { EmulatorDatabase } from './database.js';

/** Workspace settings that the management API (`PATCH /workspaces/{ws}/settings`) can change. */
export interface WorkspaceSettings {
  /** A disabled workspace answers device calls with 423, refuses MQTT connections and closes the open ones. */
  disabled: boolean;
  /** Approve every provisioning operation as soon as it starts. */
  autoApprove: boolean;
  /** Lifetime of the SAS token in connection strings returned by `register` (at least 1). */
  sasTokenLifetimeSeconds: number;
  /** Lifetime of registration tokens; 0 = they do not expire. */
  registrationTokenLifetimeSeconds: number;
  /** How long a provisioning operation waits for approval before it expires (at least 1). */
  provisioningOperationLifetimeSeconds: number;
}

export const defaultSettings: WorkspaceSettings = {
  disabled: false,
  autoApprove: false,
  sasTokenLifetimeSeconds: 3600,
  registrationTokenLifetimeSeconds: 7 * 24 * 3600,
  provisioningOperationLifetimeSeconds: 15 * 60,
};

const maxLifetimeSeconds = 10 * 365 * 86400;

/** Why one setting's value is not acceptable, or undefined when it is. */
export function settingProblem(key: string, value: unknown): string | undefined {
  switch (key) {
    case 'disabled':
    case 'autoApprove':
      return typeof value === 'boolean' ? undefined : `${key} must be a boolean`;
    case 'registrationTokenLifetimeSeconds':
    case 'sasTokenLifetimeSeconds':
    case 'provisioningOperationLifetimeSeconds': {
      // Only registration tokens have a "never expires" (0); a SAS token or an operation of 0 s is born expired.
      const least = key === 'registrationTokenLifetimeSeconds' ? 0 : 1;
      const valid =
        typeof value === 'number' && Number.isInteger(value) && value >= least && value <= maxLifetimeSeconds;
      return valid
        ? undefined
        : `${key} must be a whole number of seconds from ${least} to ${maxLifetimeSeconds}`;
    }
    default:
      return `${key} is not a workspace setting`;
  }
}

/** Checks a settings patch; throws an Error naming the first bad field. */
export function validSettings(patch: Record<string, unknown>): Partial<WorkspaceSettings> {
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const problem = settingProblem(key, value);
    if (problem) throw new Error(problem);
  }
  return patch as Partial<WorkspaceSettings>;
}

export interface WorkspaceIdentity {
  workspaceId: string;
  provisioningToken: string;
  apiToken: string;
}

/** Workspace ids: letters, digits, `-` and `_` (they appear in MQTT client ids, topics and URLs). */
export const workspaceIdPattern = /^[A-Za-z0-9_-]{1,64}$/;

export function randomToken(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * The single workspace an emulator instance serves: its identity, secrets and settings.
 *
 * Settings come in two layers: the stored ones (changed by `PATCH /settings`, kept in the data directory) and the
 * ones given for this run (command-line flags, environment, `startEmulator({ settings })`), which win while the
 * process runs but are never written, so a later start without them gets the stored values back. A `PATCH` of a
 * setting replaces its run value too.
 */
export class Workspace {
  readonly identity: WorkspaceIdentity;
  #stored: Partial<WorkspaceSettings>;
  #run: Partial<WorkspaceSettings>;
  #settings: WorkspaceSettings;

  constructor(
    private readonly db: EmulatorDatabase,
    fixed: Partial<WorkspaceIdentity>,
    runSettings: Partial<WorkspaceSettings>,
  ) {
    if (fixed.workspaceId !== undefined) {
      if (!workspaceIdPattern.test(fixed.workspaceId)) {
        throw new Error('a workspace id is 1-64 characters: letters, digits, - and _');
      }
      const existing = this.#read('workspaceId');
      if (existing !== undefined && existing !== fixed.workspaceId) {
        throw new Error(
          `this data directory belongs to workspace ${existing}, not ${fixed.workspaceId}: ` +
            'use another data directory, or leave the workspace id out',
        );
      }
    }
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
    // Values an older emulator stored that are no longer accepted (say a SAS lifetime of 0) fall back to defaults.
    this.#stored = Object.fromEntries(
      Object.entries(stored ? (JSON.parse(stored) as Record<string, unknown>) : {}).filter(
        ([key, value]) => settingProblem(key, value) === undefined,
      ),
    ) as Partial<WorkspaceSettings>;
    this.#run = Object.fromEntries(
      Object.entries(validSettings(runSettings)).filter(([, value]) => value !== undefined),
    ) as Partial<WorkspaceSettings>;
    this.#settings = this.#effective();
  }

  get settings(): Readonly<WorkspaceSettings> {
    return this.#settings;
  }

  /** Changes (and stores) settings; the caller has validated them. */
  updateSettings(patch: Partial<WorkspaceSettings>): WorkspaceSettings {
    this.#stored = { ...this.#stored, ...patch };
    for (const key of Object.keys(patch) as (keyof WorkspaceSettings)[]) delete this.#run[key];
    this.#write('settings', JSON.stringify(this.#stored));
    this.#settings = this.#effective();
    return this.#settings;
  }

  #effective(): WorkspaceSettings {
    return { ...defaultSettings, ...this.#stored, ...this.#run };
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
