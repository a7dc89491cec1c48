// The emulator for the benchmarks: its own process (as a real broker would be: it does not share our event loop),
// started from the built CLI, and devices provisioned over its HTTP API.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../dist/emulator/cli.js', import.meta.url));
const library = fileURLToPath(new URL('./emulator-process.mjs', import.meta.url));

/**
 * Starts `spotflow-emulator` in a child process (in memory unless `dataDir` is given) with auto-approval; with
 * `maxConnections`, the emulator's library entry instead (in memory), as the CLI has no flag for that cap.
 *
 * @param {{ dataDir?: string, port?: number, maxConnections?: number }} [options]
 */
export async function startEmulator(options = {}) {
  const args = ['--port', String(options.port ?? 0), '--json', '--auto-approve', '--log-level', 'error'];
  if (options.dataDir) args.push('--data-dir', options.dataDir, '--no-memory');
  else args.push('--memory');
  const command =
    options.maxConnections === undefined
      ? [cli, ...args]
      : [library, JSON.stringify({ maxConnections: options.maxConnections })];
  // BENCH_EMULATOR_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/emulator-profiles' profiles the emulator's side.
  const nodeArgs = process.env.BENCH_EMULATOR_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, ...command], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const line = await Promise.race([
    new Promise((resolve) => createInterface({ input: child.stdout }).once('line', resolve)),
    exited.then((code) => {
      throw new Error(`the emulator exited (${code}) before it was ready`);
    }),
  ]);
  const ready = JSON.parse(line);
  const port = Number(new URL(ready.instance).port);
  let paused = false;
  return {
    ...ready,
    port,
    pid: child.pid,
    ca: readFileSync(ready.caFile, 'utf8'),
    /** `http://localhost:PORT` or `https://…` (the one port speaks both): the SDK picks MQTT over TLS for https. */
    instanceFor: (tls) => `${tls ? 'https' : 'http'}://localhost:${port}`,
    /** Freezes the emulator (SIGSTOP): connections stay open, nothing is answered. */
    pause() {
      paused = true;
      child.kill('SIGSTOP');
    },
    resume() {
      paused = false;
      child.kill('SIGCONT');
    },
    /** CPU time (user + system, ms) the emulator process has used so far, from /proc. */
    cpuMs: () => processCpuMs(child.pid),
    rssMb: () => processRssMb(child.pid),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (paused) child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Provisions `deviceId` over HTTP (init, complete, register) and returns its hub credentials, for the baselines
 * that connect with their own MQTT client.
 */
export async function provision(emulator, deviceId) {
  const call = async (method, path, token, body) => {
    const response = await fetch(`http://localhost:${emulator.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const init = await call('POST', '/provisioning-operations/init', emulator.provisioningToken, { deviceId });
  const { registrationToken } = await call(
    'PUT',
    '/provisioning-operations/complete',
    emulator.provisioningToken,
    { provisioningOperationId: init.provisioningOperationId },
  );
  const registered = await call('PUT', '/devices/register', registrationToken, {
    connectionStringType: 'SharedAccessSignature',
  });
  const parts = Object.fromEntries(
    registered.connectionString.split(';').map((part) => {
      const eq = part.indexOf('=');
      return [part.slice(0, eq), part.slice(eq + 1)];
    }),
  );
  return {
    deviceId,
    hubDeviceId: parts.DeviceId,
    hostName: registered.iotHubHostName,
    sasToken: parts.SharedAccessSignature,
    connectionString: registered.connectionString,
  };
}

/** The MQTT.js options IoT Hub expects of a device (client id, username, SAS password). */
export function hubMqttOptions(emulator, device) {
  return {
    clientId: device.hubDeviceId,
    username: `${device.hostName}/${device.hubDeviceId}/?api-version=2021-04-12`,
    password: device.sasToken,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ca: emulator.ca,
  };
}

export function processCpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime are fields 14 and 15 of stat (12 and 13 after the command), in clock ticks (100 Hz).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

export function processRssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return Number.NaN;
  }
}
