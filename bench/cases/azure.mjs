// Case 3. Against Microsoft's Node device client (azure-iot-device + azure-iot-device-mqtt, MQTT over TLS, as a new
// user would set it up: the connection string and the CA): the same 1 KiB messages to the same emulator with 64
// sends outstanding, against our client over TLS, which also makes every message durable before sending it.
import azureIotDevice from 'azure-iot-device';
import azureIotDeviceMqtt from 'azure-iot-device-mqtt';
import { rate, startDevice, waitConnected } from '../lib/device.mjs';
import { provision, startEmulator } from '../lib/emulator.mjs';
import { alternate, row } from '../lib/harness.mjs';
import { sdkSend } from './e2e.mjs';

export const name = 'azure';
export const description =
  "vs Microsoft's azure-iot-device-mqtt client over TLS, 64 sends outstanding, 1 KiB";

const { Client, Message } = azureIotDevice;
const { Mqtt } = azureIotDeviceMqtt;

export async function run({ smoke, runs, warmup, dir }) {
  const count = smoke ? 200 : 10_000;
  const payload = Buffer.alloc(1024, 'x');
  const emulator = await startEmulator();
  const device = await provision(emulator, 'microsoft');
  const microsoft = Client.fromConnectionString(device.connectionString, Mqtt);
  const ours = await startDevice(emulator, { dir, name: 'ours-tls', tls: true });
  try {
    await microsoft.setOptions({ ca: emulator.ca });
    await microsoft.open();
    await waitConnected(ours);
    const figures = await alternate({
      runs,
      warmup,
      measure: {
        ours: () => sdkSend(ours, payload, count),
        baseline: async () => {
          let next = 0;
          const started = performance.now();
          await Promise.all(
            Array.from({ length: 64 }, async () => {
              while (next < count) {
                next++;
                const message = new Message(payload);
                message.properties.add('stream-name', 'bench');
                await microsoft.sendEvent(message);
              }
            }),
          );
          return rate(count, performance.now() - started);
        },
      },
    });
    return [
      row({
        caseName: name,
        name: 'messages/s over TLS, 64 outstanding, 1 KiB (ours durable)',
        unit: 'msg/s',
        ours: figures.ours,
        baseline: figures.baseline,
        baselineName: 'azure-iot-device-mqtt 1.16 sendEvent, no persistence',
        target: { on: 'ratio', op: '>=', value: 2.5 },
      }),
    ];
  } finally {
    await ours.close();
    await microsoft.close();
    await emulator.stop();
  }
}
