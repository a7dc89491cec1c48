/**
 * The session's timing rules, driven by a fake clock: nothing here sleeps. The MQTT connection is a stand-in whose
 * graceful `end()` never finishes (a dead link: the PUBACKs it waits for never come).
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/helpers/clock.js';
import type { Logger } from '../logger.js';
import type { MqttConnection, Platform } from '../ports.js';
import type { HubCredentials } from './connection-string.js';
import { HubSession } from './session.js';

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

function sessionOn(clock: FakeClock, connection: MqttConnection) {
  let renewed: () => void = () => {};
  let connected!: () => void;
  const isConnected = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const platform = {
    name: 'fake',
    clock,
    defaultTransport: 'tcp',
    mqtt: { connect: async () => connection },
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
    { connected: () => connected(), disconnected() {}, error() {} },
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
