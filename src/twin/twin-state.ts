/**
 * What the device knows of its twin on the hub: the desired properties, the reported properties the hub has
 * acknowledged, and the hub identity both belong to. Every change to them goes through one queue, in order, each
 * once the previous one is stored.
 */
import { SpotflowError } from '../errors.js';
import type { DesiredProperties } from '../options.js';
import type { Database, SqlStatement } from '../ports.js';
import { StateStore } from '../store/state.js';
import { applyMergePatch, cloneJson, isJsonObject, type JsonObject } from './merge-patch.js';
import type { TwinResponse } from './requests.js';

const desiredKey = 'twin.desired';
const reportedKey = 'twin.reported';
/** The hub identity (hub device id) the stored desired and reported state belong to. */
const identityKey = 'twin.identity';

export interface VersionedValues {
  version: number;
  values: JsonObject;
}

export class TwinState {
  #desired: DesiredProperties = { version: 0, values: {} };
  /** Reported properties as the hub acknowledged them (pending patches are not applied here). */
  #reported: VersionedValues = { version: 0, values: {} };
  /** See `identityKey`; undefined until the first connect records it (or in a database from before it was kept). */
  #identity: string | undefined;
  #changes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: Database,
    private readonly state: StateStore,
    private readonly onDesired: (desired: DesiredProperties) => void,
  ) {}

  static async load(
    db: Database,
    device: string,
    onDesired: (desired: DesiredProperties) => void,
  ): Promise<TwinState> {
    const twin = new TwinState(db, new StateStore(db, device), onDesired);
    twin.#desired = (await twin.state.get<DesiredProperties>(desiredKey)) ?? twin.#desired;
    twin.#reported = (await twin.state.get<VersionedValues>(reportedKey)) ?? twin.#reported;
    twin.#identity = await twin.state.get<string>(identityKey);
    return twin;
  }

  desired(): DesiredProperties {
    return { version: this.#desired.version, values: cloneJson(this.#desired.values) };
  }

  /** The acknowledged reported state, not copied: callers must not change it. */
  get reported(): Readonly<VersionedValues> {
    return this.#reported;
  }

  get identity(): string | undefined {
    return this.#identity;
  }

  /** Records the identity of the first connect: the stored state is already this identity's. */
  recordIdentity(identity: string): Promise<void> {
    return this.#inOrder(async () => {
      await this.state.set(identityKey, identity);
      this.#identity = identity;
    });
  }

  /**
   * Forgets the desired and reported state, durably, recording `identity` with the reset when given. `done` runs
   * as the reset becomes visible, before any later change.
   */
  reset(identity: string | undefined, done: () => void): Promise<void> {
    return this.#inOrder(async () => {
      const desired: DesiredProperties = { version: 0, values: {} };
      const reported = { version: 0, values: {} };
      await this.db.write([
        this.state.setStatement(desiredKey, desired),
        this.state.setStatement(reportedKey, reported),
        ...(identity === undefined ? [] : [this.state.setStatement(identityKey, identity)]),
      ]);
      this.#desired = desired;
      this.#reported = reported;
      if (identity !== undefined) this.#identity = identity;
      done();
    });
  }

  /**
   * A desired patch of `version`: applied when it is the next version, ignored when not newer. `gap` means a
   * version was skipped: only the full twin tells the truth.
   */
  applyDesiredPatch(version: number, patch: JsonObject): Promise<'applied' | 'old' | 'gap'> {
    return this.#inOrder(async () => {
      if (version <= this.#desired.version) return 'old';
      if (version !== this.#desired.version + 1) return 'gap';
      await this.#setDesired({
        version,
        values: applyMergePatch(this.#desired.values, withoutMetadata(patch)),
      });
      return 'applied';
    });
  }

  /**
   * The full twin is the hub's truth: a section whose `$version` differs from the stored one is taken, lower
   * versions included (the twin was recreated on the hub, or this is another identity's twin). That is safe
   * because it is applied in the order the hub answered (see `TwinRequests.send`): a version older than one
   * already applied cannot come after it. Incremental patches still only move forward.
   */
  async applyFullTwin(response: TwinResponse): Promise<void> {
    if (response.status !== 200)
      throw new SpotflowError('PROTOCOL', `The hub answered the twin request with ${response.status}`);
    const twin = parseJsonObject(response.body);
    const desired = twin && isJsonObject(twin.desired) ? twin.desired : undefined;
    const reported = twin && isJsonObject(twin.reported) ? twin.reported : undefined;
    const desiredVersion = Number(desired?.$version);
    if (!desired || !Number.isSafeInteger(desiredVersion))
      throw new SpotflowError('PROTOCOL', 'The twin the hub sent is malformed');
    const reportedVersion = Number(reported?.$version);
    await this.#inOrder(async () => {
      if (reported && Number.isSafeInteger(reportedVersion) && reportedVersion !== this.#reported.version) {
        const next = { version: reportedVersion, values: withoutMetadata(reported) };
        await this.state.set(reportedKey, next);
        this.#reported = next;
      }
      if (desiredVersion !== this.#desired.version) {
        await this.#setDesired({ version: desiredVersion, values: withoutMetadata(desired) });
      }
    });
  }

  /**
   * The hub acknowledged the reported `patch` with `version` (the next one when it gave none). `alsoWrite` is
   * committed with it (the patch's removal from the queue); `done` runs as the new state becomes visible.
   */
  acknowledgeReported(
    patch: JsonObject,
    version: number | undefined,
    alsoWrite: readonly SqlStatement[],
    done: () => void,
  ): Promise<void> {
    return this.#inOrder(async () => {
      const reported = {
        version:
          version !== undefined && Number.isSafeInteger(version) ? version : this.#reported.version + 1,
        values: applyMergePatch(this.#reported.values, patch),
      };
      await this.db.write([...alsoWrite, this.state.setStatement(reportedKey, reported)]);
      this.#reported = reported;
      done();
    });
  }

  /**
   * Runs changes one at a time, each once the previous one is stored. Patches and full-twin answers are handled
   * concurrently (QoS 0 deliveries are not awaited one by one), and `#desired` changes only after the write;
   * without this queue two of them could both see the old version, and store and notify the same version twice,
   * or an older one after a newer. Acknowledgements of reported patches go through it too, so that every change
   * the hub tells of is applied in the order it told it.
   */
  #inOrder<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#changes.then(change);
    this.#changes = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  async #setDesired(desired: DesiredProperties): Promise<void> {
    await this.state.set(desiredKey, desired);
    this.#desired = desired;
    this.onDesired(this.desired());
  }
}

/** The JSON object in `bytes`, or undefined when they hold anything else. */
export function parseJsonObject(bytes: Uint8Array): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return isJsonObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Twin documents carry `$version` and `$metadata`; they are not properties. */
function withoutMetadata(twinSection: JsonObject): JsonObject {
  const values: JsonObject = {};
  for (const [key, value] of Object.entries(twinSection)) if (!key.startsWith('$')) values[key] = value;
  return values;
}
