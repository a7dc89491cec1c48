/**
 * The session's timing rules, driven by a fake clock: nothing here sleeps. The MQTT connection is a stand-in whose
 * graceful `end()` never finishes (a dead link: the PUBACKs it waits for never come).
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/helpers/clock.js';
import { SpotflowError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MqttConnection, Platform } from '../ports.js';
import type { HubCredentials } from './connection-string.js';
import { attemptAfterConnection, attemptAfterFailedConnect, HubSession } from './session.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const credentials: HubCredentials = {
  hostName: 'hub.example.com',
  hubDeviceId: 'ws:dev',
  workspaceId: 'ws',
  deviceId: 'dev',
  sasToken: 'SharedAccessSignature sr=hub.example.com%2Fdevices%2Fws%253Adev&sig=s&se=1',
  sasExpiresAt: new Date(Date.UTC(2030, 0, 1)),
};

/** A connection on a dead link: `end()` hangs, `end(true)` closes at once. */
function deadLinkConnection() {
  const ends: boolean[] = [];
  let close: (() => void) | undefined;
  const connection: MqttConnection = {
    publish: async () => {},
    subscribe: async () => {},
    setMessageHandler() {},
    onPacket() {},
    onClose(listener) {
      close = () => listener();
    },
    end(force = false) {
      ends.push(force);
      if (!force) return new Promise(() => {});
      close?.();
      return Promise.resolve();
    },
  };
  return { connection, ends };
}

function sessionOn(
  clock: FakeClock,
  connection: MqttConnection | (() => Promise<MqttConnection>),
  onConnected: (connection: MqttConnection) => void = () => {},
  onConnecting: (attempt: number) => void = () => {},
) {
  let renewed: () => void = () => {};
  let connected!: () => void;
  const isConnected = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const platform = {
    name: 'fake',
    clock,
    defaultTransport: 'tcp',
    mqtt: { connect: typeof connection === 'function' ? connection : async () => connection },
  } as unknown as Platform;
  const session = new HubSession(
    platform,
    {
      instance: 'https://platform.example.com',
      allowInsecure: false,
      transport: 'tcp',
      keepAliveSeconds: 60,
      reconnectInitialDelayMs: 1000,
      reconnectMaxDelayMs: 60_000,
    },
    {
      current: async () => credentials,
      refused: () => new Promise(() => {}),
      onChange: (listener) => {
        renewed = listener;
        return () => {};
      },
    },
    {
      connecting: (attempt) => onConnecting(attempt),
      connected: (current) => {
        connected();
        onConnected(current);
      },
      disconnected() {},
      error() {},
    },
    silent,
  );
  return { session, isConnected, renew: () => renewed() };
}

describe('HubSession.stop', () => {
  it('waits 2 s for a graceful end on a dead link, then forces the connection closed', async () => {
    const clock = new FakeClock();
    const { connection, ends } = deadLinkConnection();
    const { session, isConnected } = sessionOn(clock, connection);
    session.start();
    await isConnected;

    let stopped = false;
    const stopping = session.stop().then(() => {
      stopped = true;
    });
    await clock.advance(1999);
    expect(ends).toEqual([false]);
    expect(stopped).toBe(false);

    await clock.advance(1);
    await stopping;
    expect(ends).toEqual([false, true]);
    expect(clock.pending).toBe(0);
  });

  it('a renewed SAS ends the connection the same way: gracefully, forced after 2 s on a dead link', async () => {
    const clock = new FakeClock();
    const { connection, ends } = deadLinkConnection();
    const { session, isConnected, renew } = sessionOn(clock, connection);
    session.start();
    await isConnected;

    renew();
    await clock.advance(1999);
    expect(ends).toEqual([false]);
    await clock.advance(1);
    expect(ends).toEqual([false, true]);

    const stopping = session.stop();
    await clock.advance(60_000); // the reconnect's backoff, cut short by stop
    await stopping;
  });
});

/** A hub whose connections the test drops; records when each connect was made (monotonic ms). */
function droppingHub(clock: FakeClock, options: { refuseConnects?: boolean } = {}) {
  const connects: number[] = [];
  const accepted: number[] = [];
  let drop: (() => void) | undefined;
  const connect = async (): Promise<MqttConnection> => {
    connects.push(clock.monotonicNow());
    if (options.refuseConnects)
      throw new SpotflowError('NETWORK', 'Cannot connect to the MQTT broker (ECONNRESET)');
    accepted.push(clock.monotonicNow());
    let onClose: ((error?: Error) => void) | undefined;
    drop = () => onClose?.(new Error('reset'));
    return {
      publish: async () => {},
      subscribe: async () => {},
      setMessageHandler() {},
      onPacket() {},
      onClose(listener) {
        onClose = listener;
      },
      async end() {
        onClose?.();
      },
    };
  };
  return { connect, connects, accepted, drop: () => drop?.() };
}

/** Advances the clock in small steps until `connects` has `count` entries. */
async function untilConnects(
  clock: FakeClock,
  connects: number[],
  count: number,
  boundMs = 120_000,
): Promise<void> {
  for (let waited = 0; connects.length < count; waited += 50) {
    if (waited > boundMs) throw new Error(`no connect #${count} within ${boundMs} ms`);
    await clock.advance(50);
  }
}

describe('reconnect backoff', () => {
  it('states the rule: a PUBACK or 5 s of life resets it; a short connection adds one, up to 2', () => {
    expect(attemptAfterConnection(7, { livedMs: 300, acknowledgedPublishes: 1 })).toBe(0);
    expect(attemptAfterConnection(7, { livedMs: 5000, acknowledgedPublishes: 0 })).toBe(0);
    expect(attemptAfterConnection(0, { livedMs: 4999, acknowledgedPublishes: 0 })).toBe(1);
    expect(attemptAfterConnection(1, { livedMs: 10, acknowledgedPublishes: 0 })).toBe(2);
    expect(attemptAfterConnection(2, { livedMs: 10, acknowledgedPublishes: 0 })).toBe(2);
    expect(attemptAfterConnection(9, { livedMs: 10, acknowledgedPublishes: 0 })).toBe(2);
    // Failed connects: capped at 2 within 30 s of the last accepted connection, then without limit.
    expect(attemptAfterFailedConnect(2, 29_999)).toBe(2);
    expect(attemptAfterFailedConnect(0, 1000)).toBe(1);
    expect(attemptAfterFailedConnect(2, 30_000)).toBe(3);
    expect(attemptAfterFailedConnect(7, Number.POSITIVE_INFINITY)).toBe(8);
  });

  it('a link reset every second, with nothing acknowledged: never more than 4 s between a drop and the next connect', async () => {
    const clock = new FakeClock();
    const hub = droppingHub(clock);
    const { session } = sessionOn(clock, hub.connect);
    session.start();
    const gaps: number[] = [];
    for (let n = 1; n <= 15; n++) {
      await untilConnects(clock, hub.connects, n);
      await clock.advance(1000);
      const droppedAt = clock.monotonicNow();
      hub.drop();
      await untilConnects(clock, hub.connects, n + 1);
      gaps.push(hub.connects[n]! - droppedAt);
    }
    expect(Math.max(...gaps)).toBeLessThanOrEqual(4000 + 50);
    expect(Math.max(...gaps.slice(2))).toBeGreaterThanOrEqual(2000); // still backing off: no storm
    const stopping = session.stop();
    await clock.advance(5000);
    await stopping;
  });

  it('a connection that delivered a PUBACK resets the backoff: the next connect comes within 1 s', async () => {
    const clock = new FakeClock();
    const hub = droppingHub(clock);
    const { session } = sessionOn(clock, hub.connect, (connection) => {
      void connection.publish('devices/ws:dev/messages/events/', new Uint8Array(1), 1);
    });
    session.start();
    const gaps: number[] = [];
    for (let n = 1; n <= 10; n++) {
      await untilConnects(clock, hub.connects, n);
      await clock.advance(500);
      const droppedAt = clock.monotonicNow();
      hub.drop();
      await untilConnects(clock, hub.connects, n + 1);
      gaps.push(hub.connects[n]! - droppedAt);
    }
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1000 + 50);
    const stopping = session.stop();
    await clock.advance(5000);
    await stopping;
  });

  it('a link that flaps (down 3 s, up 3 s): once it stays up, the next connect comes within 4 s', async () => {
    const clock = new FakeClock();
    const options = { refuseConnects: false };
    const hub = droppingHub(clock, options);
    const { session } = sessionOn(clock, hub.connect);
    session.start();
    await untilConnects(clock, hub.connects, 1);
    for (let flap = 0; flap < 10; flap++) {
      // Down: the connection drops and every connect fails; then up for 3 s (but the last time, for good).
      options.refuseConnects = true;
      hub.drop();
      await clock.advance(3000);
      options.refuseConnects = false;
      if (flap < 9) await clock.advance(3000);
    }
    const upAt = clock.monotonicNow();
    const acceptedBefore = hub.accepted.length;
    for (let waited = 0; hub.accepted.length === acceptedBefore; waited += 50) {
      if (waited > 60_000) throw new Error('never reconnected');
      await clock.advance(50);
    }
    expect(hub.accepted.at(-1)! - upAt).toBeLessThanOrEqual(4000 + 50);
    expect(hub.connects.length).toBeLessThan(60 / 2 + 10); // 60 s of flapping: retried every 2-4 s, not hammered
    const stopping = session.stop();
    await clock.advance(5000);
    await stopping;
  });

  it('connects that fail keep backing off, up to a minute (a hub that cannot be reached is not hammered)', async () => {
    const clock = new FakeClock();
    const hub = droppingHub(clock, { refuseConnects: true });
    const { session } = sessionOn(clock, hub.connect);
    session.start();
    await untilConnects(clock, hub.connects, 10, 600_000);
    const gaps = hub.connects.slice(1).map((at, i) => at - hub.connects[i]!);
    expect(gaps[0]).toBeLessThanOrEqual(1000 + 50);
    expect(Math.max(...gaps.slice(7))).toBeGreaterThanOrEqual(30_000 - 50);
    const stopping = session.stop();
    await clock.advance(1000);
    await stopping;
  });

  it('says when each connection attempt begins, counting from 1 again after a connection', async () => {
    const clock = new FakeClock();
    const refusing = { refuseConnects: true };
    const hub = droppingHub(clock, refusing);
    const attempts: number[] = [];
    const { session } = sessionOn(clock, hub.connect, undefined, (attempt) => attempts.push(attempt));
    session.start();
    await untilConnects(clock, hub.connects, 3);
    expect(attempts).toEqual([1, 2, 3]);
    refusing.refuseConnects = false;
    await untilConnects(clock, hub.connects, 4);
    expect(hub.accepted).toHaveLength(1);
    hub.drop();
    await untilConnects(clock, hub.connects, 5);
    expect(attempts).toEqual([1, 2, 3, 4, 1]);
    const stopping = session.stop();
    await clock.advance(1000);
    await stopping;
  });
});
