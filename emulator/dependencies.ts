/**
 * The emulator's server stack. The emulator ships in the spotflow-device package (ARCHITECTURE.md and scripts
 * outside rely on `spotflow-device/emulator` and the `spotflow-emulator` bin), but its packages are optional peer
 * dependencies, so a device's installation never carries a broker. The entries (index.ts, cli.ts) check for them
 * before loading anything that imports them: a missing one is named in one message, not a module-not-found trace.
 */

/** Every package the emulator imports beyond Node's built-ins. */
export const emulatorPackages = [
  'aedes',
  'ws',
  'mqtt-packet',
  '@peculiar/x509',
  'better-sqlite3',
  'hono',
  '@hono/node-server',
] as const;

/** What to run to install them. */
export const emulatorInstallCommand = `npm i -D ${emulatorPackages.join(' ')}`;

/** Thrown by the emulator's entry when part of its server stack is not installed. */
export class EmulatorDependencyError extends Error {
  /** Tells this error apart without `instanceof`. */
  readonly code = 'EMULATOR_DEPENDENCIES_MISSING';

  constructor(
    /** The packages that are not installed. */
    readonly missing: readonly string[],
  ) {
    super(
      `The Spotflow emulator needs packages that are not installed (${missing.join(', ')}): ${emulatorInstallCommand}`,
    );
    this.name = 'EmulatorDependencyError';
  }
}

/** The emulator packages that cannot be imported because they are not installed. */
export async function missingEmulatorPackages(): Promise<string[]> {
  const missing: string[] = [];
  for (const name of emulatorPackages) {
    try {
      await import(name);
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') missing.push(name);
      else throw error;
    }
  }
  return missing;
}

/** Resolves when the whole server stack is installed; rejects with {@link EmulatorDependencyError} otherwise. */
export async function requireEmulatorPackages(): Promise<void> {
  const missing = await missingEmulatorPackages();
  if (missing.length > 0) throw new EmulatorDependencyError(missing);
}
