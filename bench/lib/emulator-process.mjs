// The emulator through its library entry, for the fleet case, which needs more connections than the CLI's default
// cap of 1,000 (the CLI has no flag for it). Prints one JSON line like `spotflow-emulator --json`, stops on SIGTERM.
import { startEmulator } from 'spotflow-device/emulator';

const { maxConnections } = JSON.parse(process.argv[2] ?? '{}');
const emulator = await startEmulator({
  memory: true,
  port: 0,
  settings: { autoApprove: true },
  maxConnections,
});
const { instance, provisioningToken, workspaceId, apiToken, caFile, portalUrl } = emulator;
process.stdout.write(
  `${JSON.stringify({ instance, provisioningToken, workspaceId, apiToken, caFile, portalUrl })}\n`,
);
process.once('SIGTERM', () => {
  emulator.close().then(() => process.exit(0));
});
