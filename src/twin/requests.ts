/**
 * Twin requests and their answers, matched by `$rid` (SPEC §4): the hub answers on `$iothub/twin/res/<status>/`
 * with the request's id, in no promised order relative to other twin traffic.
 */
import { SpotflowError } from '../errors.js';
import type { Clock, MqttConnection } from '../ports.js';

export interface TwinResponse {
  status: number;
  version?: number;
  body: Uint8Array;
}

const responseTimeoutMs = 30_000;

export class TwinRequests {
  #nextRid = 1;
  /** Requests waiting for the hub's answer, by `$rid`: `fail` ends one early when its connection is lost. */
  readonly #waiting = new Map<
    string,
    { settle: (response: TwinResponse) => void; fail: (error: SpotflowError) => void }
  >();

  constructor(private readonly clock: Clock) {}

  /**
   * Publishes a twin request; resolves with what `apply` makes of the hub's answer. `apply` runs as soon as the
   * answer is handled, before any later message is, so whatever it queues is queued in the order the hub sent
   * its messages.
   */
  send<T>(
    connection: MqttConnection,
    path: string,
    body: Uint8Array,
    apply: (response: TwinResponse) => Promise<T>,
  ): Promise<T> {
    const rid = String(this.#nextRid++);
    const clock = this.clock;
    return new Promise<T>((resolve, reject) => {
      const end = () => {
        clock.clearTimeout(timer);
        this.#waiting.delete(rid);
      };
      const timer = clock.setTimeout(() => {
        this.#waiting.delete(rid);
        reject(new SpotflowError('TIMEOUT', 'The hub did not answer a twin request in time'));
      }, responseTimeoutMs);
      this.#waiting.set(rid, {
        settle: (response) => {
          end();
          resolve(apply(response));
        },
        fail: (error) => {
          end();
          reject(error);
        },
      });
      connection.publish(`$iothub/twin/${path}?$rid=${rid}`, body, 0).catch((error: unknown) => {
        end();
        reject(error);
      });
    });
  }

  /** A message on `$iothub/twin/res/`: settles the request it answers, if one still waits. */
  answer(topic: string, payload: Uint8Array): void {
    const match = /^\$iothub\/twin\/res\/(\d{3})\/\?(.*)$/.exec(topic);
    if (!match) return;
    const query = new URLSearchParams(match[2]);
    const version = query.get('$version');
    this.#waiting.get(query.get('$rid') ?? '')?.settle({
      status: Number(match[1]),
      version: version === null ? undefined : Number(version),
      body: payload,
    });
  }

  /** The connection is lost: its answers will never come, so every waiting request fails now with `error`. */
  failAll(error: SpotflowError): void {
    for (const waiting of [...this.#waiting.values()]) waiting.fail(error);
  }
}
