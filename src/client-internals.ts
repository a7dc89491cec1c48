/**
 * What the browser's shared client needs of an owner's client and no user should call: store a message another
 * context checked, under the id that context chose (so that its retry after a takeover cannot store it twice).
 * Filled in by {@link DeviceClient}'s static block, which alone can reach its private parts; kept out of client.ts so
 * that its declarations show none of these internal types.
 */
import type { CheckedMessage } from './checked-message.js';
import type { DeviceClient } from './client.js';
import type { GivenMid } from './outbox/store.js';

export const clientInternals = {} as {
  enqueue(client: DeviceClient, message: CheckedMessage, given: GivenMid): Promise<{ id: string }>;
  send(
    client: DeviceClient,
    message: CheckedMessage,
    given: GivenMid,
    signal: AbortSignal | undefined,
  ): Promise<{ id: string }>;
};
