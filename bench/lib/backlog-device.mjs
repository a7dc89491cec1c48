// A device process for the backlog case: starts our client on a database that already holds a backlog, and reports
// the time from `DeviceClient.start` to the first message sent, the send rate over the next `count` messages, and its
// own resident memory then. A process of its own, so its memory is the client's alone.
import { startDevice } from './device.mjs';

const { emulator, database, name, count } = JSON.parse(process.argv[2]);
const target = { ...emulator, instanceFor: () => `http://localhost:${emulator.port}` };
let sent = 0;
let first;
let done;
const finished = new Promise((resolve) => {
  done = resolve;
});
const started = performance.now();
const client = await startDevice(target, { dir: '', name, database });
client.on('messageSent', () => {
  sent++;
  if (sent === 1) first = performance.now();
  if (sent === count + 1) done(performance.now());
});
const last = await finished;
const result = {
  startMs: first - started,
  sendRate: count / ((last - first) / 1000),
  rssMb: process.memoryUsage().rss / 2 ** 20,
};
console.log(JSON.stringify(result));
// Exits without `client.close()`: with a backlog, close takes time proportional to it (the sender keeps going
// through the backlog with publishes that fail at once; see bench/README.md). Every enqueue was durable, so exiting
// loses nothing, exactly as a kill would not.
process.exit(0);
