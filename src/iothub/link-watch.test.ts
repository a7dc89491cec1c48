/**
 * The dead-link rules, on a fake clock: no packet for 15 s while acknowledgements are awaited means a dead link;
 * packets, an idle connection and a large publish on a slow uplink do not. A publish overtaken by a later one's
 * PUBACK has lost its own: 15 s later the link is given up, whatever else arrives.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/helpers/clock.js';
import { isSpotflowError } from '../errors.js';
import type { MqttConnection } from '../ports.js';
import { type DeadLink, deadLinkMs, LinkWatch, watchLink } from './link-watch.js';

function watched(clock: FakeClock) {
  const deaths: { silentMs: number; awaiting: number; at: number }[] = [];
  const verdicts: DeadLink[] = [];
  const watch = new LinkWatch(clock, (verdict) => {
    verdicts.push(verdict);
    if (verdict.reason === 'silence')
      deaths.push({ silentMs: verdict.silentMs, awaiting: verdict.awaiting, at: clock.monotonicNow() });
  });
  return { watch, deaths, verdicts };
}

describe('LinkWatch', () => {
  it('declares the link dead 15 s after the last packet while a publish awaits its PUBACK', async () => {
    const clock = new FakeClock();
    const { watch, deaths } = watched(clock);
    watch.begin(100);
    await clock.advance(3000);
    watch.packetReceived(); // e.g. the PUBACK of an earlier publish
    await clock.advance(deadLinkMs - 1);
    expect(deaths).toEqual([]);
    await clock.advance(1);
    expect(deaths).toEqual([{ silentMs: deadLinkMs, awaiting: 1, at: 3000 + deadLinkMs }]);
    expect(clock.pending).toBe(0);
  });

  it('keeps a link alive for as long as packets arrive, however long a publish waits', async () => {
    const clock = new FakeClock();
    const { watch, deaths } = watched(clock);
    watch.begin(100);
    for (let i = 0; i < 10; i++) {
      await clock.advance(10_000);
      watch.packetReceived();
    }
    expect(deaths).toEqual([]);
  });

  it('leaves an idle connection to the keep-alive: no timer, and waiting starts the count afresh', async () => {
    const clock = new FakeClock();
    const { watch, deaths } = watched(clock);
    const settle = watch.begin(100);
    await clock.advance(500);
    settle(true);
    expect(clock.pending).toBe(0);
    await clock.advance(100_000); // idle, no packet at all: not a dead link
    watch.begin(100);
    await clock.advance(deadLinkMs - 1);
    expect(deaths).toEqual([]);
    await clock.advance(1);
    expect(deaths).toHaveLength(1);
  });

  it('gives a large publish the time to go out on a slow uplink (8 kB/s)', async () => {
    const clock = new FakeClock();
    const { watch, deaths } = watched(clock);
    const settleLarge = watch.begin(256 * 1024);
    watch.begin(100);
    // 256 KB take 32 s at 8 kB/s; the broker then has half of the usual 15 s to answer.
    await clock.advance(32_000 + 7_499);
    expect(deaths).toEqual([]);
    // Acknowledged: the small publish behind it gets 15 s from that PUBACK, not the large one's allowance.
    watch.packetReceived();
    settleLarge(true);
    await clock.advance(deadLinkMs);
    expect(deaths).toHaveLength(1);
    expect(deaths[0]!.at).toBe(32_000 + 7_499 + deadLinkMs);
  });

  it('gives up 15 s after a later publish was acknowledged before an earlier one, even while packets arrive', async () => {
    const clock = new FakeClock();
    const { watch, verdicts } = watched(clock);
    watch.begin(100); // its PUBACK is lost
    await clock.advance(1_000);
    const settleLater = watch.begin(100);
    await clock.advance(1_000);
    watch.packetReceived();
    settleLater(true);
    for (let i = 0; i < 14; i++) {
      await clock.advance(1_000);
      watch.packetReceived(); // PINGRESPs, other PUBACKs: the link is alive, the PUBACK is still lost
    }
    expect(verdicts).toEqual([]);
    await clock.advance(1_000);
    expect(verdicts).toEqual([{ reason: 'overtaken', waitedMs: 2_000 + deadLinkMs, awaiting: 1 }]);
    expect(clock.pending).toBe(0);
  });

  it('is not overtaken by acknowledgements in order, by a failed publish, or by a subscribe', async () => {
    const clock = new FakeClock();
    const { watch, verdicts } = watched(clock);
    const first = watch.begin(100);
    const second = watch.begin(100);
    first(true);
    // The second waits with packets arriving: a slow broker, not a lost PUBACK.
    const subscribe = watch.begin(10, false);
    const third = watch.begin(100);
    subscribe(true); // a SUBACK may pass a PUBACK
    third(false); // settled by a failure, not acknowledged
    for (let i = 0; i < 6; i++) {
      await clock.advance(10_000);
      watch.packetReceived();
    }
    expect(verdicts).toEqual([]);
    second(true);
    expect(clock.pending).toBe(0);
  });

  it('stops for good: no timer, no verdict', async () => {
    const clock = new FakeClock();
    const { watch, deaths } = watched(clock);
    watch.begin(100);
    watch.stop();
    watch.begin(100);
    await clock.advance(60_000);
    expect(deaths).toEqual([]);
    expect(clock.pending).toBe(0);
  });
});

describe('watchLink', () => {
  it('ends a silent connection with force and reports why through onClose', async () => {
    const clock = new FakeClock();
    const ends: boolean[] = [];
    let closeListener: ((error?: Error) => void) | undefined;
    let packet: () => void = () => {};
    const link: MqttConnection = {
      publish: () => new Promise(() => {}), // never acknowledged
      subscribe: async () => {},
      setMessageHandler() {},
      onPacket(listener) {
        packet = listener;
      },
      onClose(listener) {
        closeListener = listener;
      },
      async end(force = false) {
        ends.push(force);
        closeListener?.(); // closed by `end`: no error of its own
      },
    };
    const reported: unknown[] = [];
    const connection = watchLink(link, clock, (error) => reported.push(error));
    let closedWith: Error | undefined;
    connection.onClose((error) => {
      closedWith = error;
    });
    void connection.publish('t', new Uint8Array(10), 0); // QoS 0: nothing awaited
    await clock.advance(60_000);
    expect(ends).toEqual([]);

    void connection.publish('t', new Uint8Array(10), 1);
    await clock.advance(10_000);
    packet();
    await clock.advance(deadLinkMs);
    expect(ends).toEqual([true]);
    expect(reported).toHaveLength(1);
    expect(isSpotflowError(closedWith, 'NETWORK')).toBe(true);
    expect(closedWith!.message).toBe(
      'No packet from the hub for 15 s while 1 operation awaited its acknowledgement: the link is dead',
    );
  });
});
