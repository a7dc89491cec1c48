import type { EmulatorDatabase } from './database.js';
import { applyMergePatch, type JsonObject } from './merge-patch.js';

export interface TwinSection {
  values: JsonObject;
  version: number;
}

export interface Twin {
  desired: TwinSection;
  reported: TwinSection;
}

interface TwinRow {
  desired: string;
  desired_version: number;
  reported: string;
  reported_version: number;
}

/** Device twins: desired and reported properties, each with its own `$version`. */
export class TwinStore {
  constructor(private readonly db: EmulatorDatabase) {}

  get(deviceId: string): Twin {
    const row = this.db.prepare('SELECT * FROM twins WHERE device_id = ?').get(deviceId) as
      | TwinRow
      | undefined;
    if (!row) return { desired: { values: {}, version: 1 }, reported: { values: {}, version: 1 } };
    return {
      desired: { values: JSON.parse(row.desired), version: row.desired_version },
      reported: { values: JSON.parse(row.reported), version: row.reported_version },
    };
  }

  /** Applies a merge patch to one side and bumps that side's version; returns the new section. */
  patch(deviceId: string, side: 'desired' | 'reported', patch: JsonObject): TwinSection {
    return this.db.transaction(() => {
      const twin = this.get(deviceId);
      const section = {
        values: applyMergePatch(twin[side].values, stripMetadata(patch)),
        version: twin[side].version + 1,
      };
      const next = { ...twin, [side]: section };
      this.db
        .prepare(
          `INSERT INTO twins (device_id, desired, desired_version, reported, reported_version) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (device_id) DO UPDATE SET desired = excluded.desired, desired_version = excluded.desired_version,
             reported = excluded.reported, reported_version = excluded.reported_version`,
        )
        .run(
          deviceId,
          JSON.stringify(next.desired.values),
          next.desired.version,
          JSON.stringify(next.reported.values),
          next.reported.version,
        );
      return section;
    })();
  }
}

/** `$`-prefixed keys (such as `$version`) are service metadata, never stored as properties. */
function stripMetadata(patch: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(patch).filter(([key]) => !key.startsWith('$')));
}

/** The wire form of a twin section: properties plus `$version`. */
export function sectionDocument(section: TwinSection): JsonObject & { $version: number } {
  return { ...section.values, $version: section.version };
}
