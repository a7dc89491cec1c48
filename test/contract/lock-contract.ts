/**
 * The contract of the `Lock` port (src/ports.ts), for every adapter: the SQLite file lock in Node, Web Locks in
 * browsers. Framework-free: each case throws on failure. Cases marked `waiting` need an adapter that can be
 * configured to wait for the owner (browsers); run them only where `supportsWaiting` (see `lockCases`).
 */
import type { Lock, LockHandle } from '../../src/ports.js';
import { equal, ok, rejectsWithCode, within } from './assert.js';
import type { ContractCase } from './database-contract.js';

export interface LockContractContext {
  /** A new lock of the adapter under test; `wait: true` is only asked for where `supportsWaiting`. */
  createLock(options: { wait: boolean }): Lock;
  supportsWaiting: boolean;
  /** A lock name no other case uses. */
  freshName(): string;
}

export interface LockCase extends ContractCase<LockContractContext> {
  /** Needs an adapter that can wait for the owner. */
  waiting?: true;
}

/** What settles well within this is "at once"; what has not settled by then is waiting. */
const AT_ONCE_MS = 5_000;
/** How long a waiter is watched to see that it stays waiting. */
const STILL_WAITING_MS = 100;

const refusing = (ctx: LockContractContext) => ctx.createLock({ wait: false });

function waiting(ctx: LockContractContext): Lock {
  ok(ctx.supportsWaiting, 'a waiting case run against an adapter that cannot wait (use lockCases)');
  return ctx.createLock({ wait: true });
}

function refused(promise: Promise<LockHandle>, what: string) {
  return within(rejectsWithCode(promise, 'DATABASE_LOCKED', what), AT_ONCE_MS, what);
}

/** Watches a pending acquire: `settled` turns true when it resolves or rejects. */
function watch(promise: Promise<LockHandle>) {
  const state = { settled: false, promise };
  promise.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

async function stillWaiting(state: { settled: boolean }, what: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, STILL_WAITING_MS));
  ok(!state.settled, `${what}: expected it to wait, but it settled`);
}

export const lockContract: LockCase[] = [
  {
    name: 'acquires, releases and acquires again',
    async run(ctx) {
      const lock = refusing(ctx);
      const name = ctx.freshName();
      const first = await within(lock.acquire(name), AT_ONCE_MS, 'the first acquire');
      await first.release();
      const second = await within(lock.acquire(name), AT_ONCE_MS, 'an acquire after release');
      await second.release();
    },
  },
  {
    name: 'refuses a second acquire of a held name at once with DATABASE_LOCKED, from any Lock object',
    async run(ctx) {
      const lock = refusing(ctx);
      const name = ctx.freshName();
      const held = await lock.acquire(name);
      try {
        await refused(lock.acquire(name), 'the same Lock object');
        await refused(refusing(ctx).acquire(name), 'another Lock object');
      } finally {
        await held.release();
      }
    },
  },
  {
    name: 'keeps different names independent',
    async run(ctx) {
      const lock = refusing(ctx);
      const [a, b] = [ctx.freshName(), ctx.freshName()];
      const heldA = await lock.acquire(a);
      const heldB = await within(lock.acquire(b), AT_ONCE_MS, 'another name while one is held');
      await heldA.release();
      await refused(lock.acquire(b), 'the name still held');
      await heldB.release();
    },
  },
  {
    name: 'gives a free name to exactly one of two concurrent acquires',
    async run(ctx) {
      const name = ctx.freshName();
      const results = await within(
        Promise.allSettled([refusing(ctx).acquire(name), refusing(ctx).acquire(name)]),
        AT_ONCE_MS,
        'two concurrent acquires',
      );
      const won = results.filter((result) => result.status === 'fulfilled');
      equal(won.length, 1, 'acquires that got the lock');
      const lost = results.find((result) => result.status === 'rejected');
      equal((lost?.reason as { code?: unknown } | undefined)?.code, 'DATABASE_LOCKED', 'the loser');
      await (won[0] as PromiseFulfilledResult<LockHandle>).value.release();
    },
  },
  {
    name: 'treats release as idempotent: a stale handle never frees the next owner',
    async run(ctx) {
      const lock = refusing(ctx);
      const name = ctx.freshName();
      const first = await lock.acquire(name);
      await first.release();
      await first.release();
      const second = await lock.acquire(name);
      await first.release();
      await refused(lock.acquire(name), 'after a stale handle was released again');
      await second.release();
      await (await lock.acquire(name)).release();
    },
  },
  {
    name: 'waiting: resolves at once when the name is free',
    waiting: true,
    async run(ctx) {
      const handle = await within(waiting(ctx).acquire(ctx.freshName()), AT_ONCE_MS, 'acquire');
      await handle.release();
    },
  },
  {
    name: 'waiting: a waiter gets the lock once the owner releases it',
    waiting: true,
    async run(ctx) {
      const name = ctx.freshName();
      const owner = await refusing(ctx).acquire(name);
      const waiter = watch(waiting(ctx).acquire(name));
      await stillWaiting(waiter, 'an acquire of a held name');
      await owner.release();
      const handle = await within(waiter.promise, AT_ONCE_MS, 'the waiter after release');
      await refused(refusing(ctx).acquire(name), 'the name the waiter now owns');
      await handle.release();
    },
  },
  {
    name: 'waiting: waiters take the lock in turn',
    waiting: true,
    async run(ctx) {
      const name = ctx.freshName();
      const owner = await refusing(ctx).acquire(name);
      const first = watch(waiting(ctx).acquire(name));
      const second = watch(waiting(ctx).acquire(name));
      await owner.release();
      const firstHandle = await within(first.promise, AT_ONCE_MS, 'the first waiter');
      await stillWaiting(second, 'the second waiter while the first holds the lock');
      await firstHandle.release();
      await (await within(second.promise, AT_ONCE_MS, 'the second waiter')).release();
    },
  },
  {
    name: 'waiting: an abort signal ends the wait with ABORTED, and the aborted waiter never gets the lock',
    waiting: true,
    async run(ctx) {
      const name = ctx.freshName();
      const owner = await refusing(ctx).acquire(name);
      const controller = new AbortController();
      const waiter = watch(waiting(ctx).acquire(name, controller.signal));
      await stillWaiting(waiter, 'an acquire of a held name');
      controller.abort();
      await within(
        rejectsWithCode(waiter.promise, 'ABORTED', 'the aborted wait'),
        AT_ONCE_MS,
        'the aborted wait',
      );
      await owner.release();
      // Had the aborted request stayed queued, it would own the lock now.
      const next = await within(
        refusing(ctx).acquire(name),
        AT_ONCE_MS,
        'an acquire after the owner released',
      );
      await next.release();
    },
  },
  {
    name: 'waiting: an already aborted signal rejects with ABORTED and takes nothing',
    waiting: true,
    async run(ctx) {
      const name = ctx.freshName();
      const controller = new AbortController();
      controller.abort();
      await within(
        rejectsWithCode(waiting(ctx).acquire(name, controller.signal), 'ABORTED'),
        AT_ONCE_MS,
        'an acquire with an aborted signal',
      );
      const handle = await within(refusing(ctx).acquire(name), AT_ONCE_MS, 'the name afterwards');
      await handle.release();
    },
  },
];

/** The cases an adapter must pass: all of them where it can wait, the others elsewhere. */
export function lockCases(supportsWaiting: boolean): LockCase[] {
  return lockContract.filter((c) => supportsWaiting || c.waiting !== true);
}
