import { randomInt, randomUUID } from 'node:crypto';
import type { EmulatorDatabase } from './database.js';
import { randomToken, type Workspace } from './workspace.js';

export type OperationStatus = 'pending' | 'approved' | 'cancelled' | 'expired';

export interface ProvisioningOperation {
  provisioningOperationId: string;
  deviceId: string;
  verificationCode: string;
  expirationTime: string;
  status: OperationStatus;
}

interface OperationRow {
  id: string;
  device_id: string;
  verification_code: string;
  status: OperationStatus;
  created_at: number;
  expires_at: number;
}

export interface IssuedToken {
  registrationToken: string;
  expirationTime?: string;
}

export type CompleteOutcome =
  | { kind: 'pending' }
  | { kind: 'cancelled' }
  | { kind: 'expired' }
  | { kind: 'unknown' }
  | ({ kind: 'issued' } & IssuedToken);

/** Provisioning operations and the registration tokens they issue. */
export class ProvisioningStore {
  constructor(
    private readonly db: EmulatorDatabase,
    private readonly workspace: Workspace,
    private readonly now: () => number,
  ) {}

  start(deviceId: string): ProvisioningOperation {
    const now = this.now();
    const row: OperationRow = {
      id: randomUUID(),
      device_id: deviceId,
      verification_code: verificationCode(),
      status: this.workspace.settings.autoApprove ? 'approved' : 'pending',
      created_at: now,
      expires_at: now + this.workspace.settings.provisioningOperationLifetimeSeconds * 1000,
    };
    this.db
      .prepare(
        `INSERT INTO provisioning_operations (id, device_id, verification_code, status, created_at, expires_at)
         VALUES (@id, @device_id, @verification_code, @status, @created_at, @expires_at)`,
      )
      .run(row);
    return toOperation(row);
  }

  get(id: string): ProvisioningOperation | undefined {
    const row = this.#row(id);
    return row && toOperation(this.#withExpiry(row));
  }

  list(status?: OperationStatus): ProvisioningOperation[] {
    const rows = this.db
      .prepare('SELECT * FROM provisioning_operations ORDER BY created_at')
      .all() as OperationRow[];
    return rows
      .map((row) => toOperation(this.#withExpiry(row)))
      .filter((op) => status === undefined || op.status === status);
  }

  /** Moves a pending operation to `approved` or `cancelled`; returns the operation as it now is. */
  decide(id: string, decision: 'approved' | 'cancelled'): ProvisioningOperation | undefined {
    const row = this.#row(id);
    if (!row) return undefined;
    const current = this.#withExpiry(row);
    if (current.status === 'pending') {
      this.db.prepare('UPDATE provisioning_operations SET status = ? WHERE id = ?').run(decision, id);
      current.status = decision;
    }
    return toOperation(current);
  }

  /** Each successful poll issues a new registration token and revokes the earlier ones of that operation. */
  complete(id: string): CompleteOutcome {
    const row = this.#row(id);
    if (!row) return { kind: 'unknown' };
    const current = this.#withExpiry(row);
    if (current.status === 'pending') return { kind: 'pending' };
    if (current.status === 'cancelled') return { kind: 'cancelled' };
    if (current.status === 'expired') return { kind: 'expired' };
    return this.db.transaction(() => {
      this.db.prepare('UPDATE registration_tokens SET revoked = 1 WHERE operation_id = ?').run(id);
      return { kind: 'issued' as const, ...this.#issue(current.device_id, id) };
    })();
  }

  /** Replaces a valid registration token with a new one; undefined when the old one is not valid. */
  refresh(token: string): IssuedToken | undefined {
    const valid = this.validToken(token);
    if (!valid) return undefined;
    return this.db.transaction(() => {
      this.db.prepare('UPDATE registration_tokens SET revoked = 1 WHERE token = ?').run(token);
      return this.#issue(valid.deviceId, valid.operationId);
    })();
  }

  /** The device a registration token belongs to, if it is neither revoked nor expired. */
  validToken(
    token: string,
  ): { deviceId: string; operationId: string | null; expiresAt: number | null } | undefined {
    const row = this.db
      .prepare('SELECT device_id, operation_id, expires_at, revoked FROM registration_tokens WHERE token = ?')
      .get(token) as
      | { device_id: string; operation_id: string | null; expires_at: number | null; revoked: number }
      | undefined;
    if (!row || row.revoked || (row.expires_at !== null && row.expires_at <= this.now())) return undefined;
    return { deviceId: row.device_id, operationId: row.operation_id, expiresAt: row.expires_at };
  }

  revokeDeviceTokens(deviceId: string): number {
    return this.db
      .prepare('UPDATE registration_tokens SET revoked = 1 WHERE device_id = ? AND revoked = 0')
      .run(deviceId).changes;
  }

  #issue(deviceId: string, operationId: string | null): IssuedToken {
    const lifetime = this.workspace.settings.registrationTokenLifetimeSeconds;
    const expiresAt = lifetime > 0 ? this.now() + lifetime * 1000 : null;
    const token = `rt-${randomToken(32)}`;
    this.db
      .prepare(
        'INSERT INTO registration_tokens (token, device_id, operation_id, expires_at) VALUES (?, ?, ?, ?)',
      )
      .run(token, deviceId, operationId, expiresAt);
    return expiresAt === null
      ? { registrationToken: token }
      : { registrationToken: token, expirationTime: new Date(expiresAt).toISOString() };
  }

  #row(id: string): OperationRow | undefined {
    return this.db.prepare('SELECT * FROM provisioning_operations WHERE id = ?').get(id) as
      | OperationRow
      | undefined;
  }

  /** An undecided operation past its expiry is expired; approved ones stay usable until then too. */
  #withExpiry(row: OperationRow): OperationRow {
    if ((row.status === 'pending' || row.status === 'approved') && row.expires_at <= this.now()) {
      this.db.prepare("UPDATE provisioning_operations SET status = 'expired' WHERE id = ?").run(row.id);
      return { ...row, status: 'expired' };
    }
    return row;
  }
}

function toOperation(row: OperationRow): ProvisioningOperation {
  return {
    provisioningOperationId: row.id,
    deviceId: row.device_id,
    verificationCode: row.verification_code,
    expirationTime: new Date(row.expires_at).toISOString(),
    status: row.status,
  };
}

/** Short code a technician compares on the device's screen and in the portal, e.g. `K7Q-4MX`. */
function verificationCode(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const pick = () => alphabet[randomInt(alphabet.length)];
  return `${pick()}${pick()}${pick()}-${pick()}${pick()}${pick()}`;
}
