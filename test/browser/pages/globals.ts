/**
 * The globals the test pages expose to the Node side of the tests (`page.evaluate`), declared once here, in a
 * module without DOM types, so that both the pages (DOM types) and the tests (Node's types) see the same names.
 */
import type { DeviceClient } from '../../../src/client.js';
import type { StartOptions } from '../../../src/options.js';
import type { Database } from '../../../src/ports.js';

/** The browser entry's start options (StartOptions plus waitForLock, sqlWasmUrl, storage and shared). */
export type PageStartOptions = StartOptions & {
  waitForLock?: boolean;
  sqlWasmUrl?: string;
  storage?: 'indexeddb' | 'opfs';
  shared?: boolean;
};

export interface DevicePage {
  client: DeviceClient | undefined;
  /** The pending `start()`, settled into `client` or `startError`. */
  starting: Promise<void> | undefined;
  startError: string | undefined;
  /** What `onProvisioningOperation` was given. */
  operations: { id: string; verificationCode: string }[];
  /** Every event the client emitted, by name, with a JSON-able summary. */
  events: { name: string; detail: unknown }[];
  /** Ids of enqueues that resolved (durable), in resolution order. */
  resolved: string[];
  start(options: Omit<PageStartOptions, 'onProvisioningOperation' | 'logger'>): Promise<void>;
}

/** The result of a lock operation in pages/lock.ts: `held`, `released`, or an error code. */
export type LockState = string;

export interface PageLocks {
  tryAcquire(name: string): Promise<LockState>;
  startWaiting(name: string): void;
  abort(name: string): void;
  state(name: string): LockState | undefined;
  release(name: string): Promise<void>;
  withoutWebLocks(name: string): Promise<LockState>;
}

export interface ContractEmulatorDevice {
  deviceId: string;
  hubDeviceId: string;
  iotHubHostName: string;
  password: string;
}

declare global {
  /** pages/opfs.ts: one call to the OPFS store running in the page's worker (pages/opfs-worker.ts). */
  var __opfs: ((request: unknown) => Promise<unknown>) | undefined;
  /** pages/device.ts */
  var device: DevicePage;
  /** pages/device-worker.ts: a request to the device client in the page's worker (pages/device-in-worker.ts). */
  var inWorker:
    | ((op: 'start' | 'enqueue' | 'desired' | 'close', args: Record<string, unknown>) => Promise<unknown>)
    | undefined;
  /** The browser entry (`spotflow-device` in a browser bundle). */
  var spotflow: { DeviceClient: { start(options: PageStartOptions): Promise<DeviceClient> } };
  /** pages/database.ts: the sizes of a database's files in the origin private file system (`storage: 'opfs'`). */
  var __opfsFiles: ((name: string) => Promise<Record<string, number>>) | undefined;
  /** pages/database.ts: opens a database in the page, for tests that drive it directly. */
  var __openDatabase: ((name: string) => Promise<Database>) | undefined;
  /**
   * pages/database.ts: what IndexedDB holds for a database: the journal position its stored pages include, how many
   * journal records follow, how many chunks are stored and the file size they make.
   */
  var __idbSummary: ((name: string) => Promise<IdbSummary>) | undefined;
  /** pages/database.ts: the SQLite file a database's stored pages make, and the journal position they include. */
  var __storedImage: ((name: string) => Promise<{ image: Uint8Array; seq: number }>) | undefined;
  /** pages/database.ts: stores a database as the previous version did (a whole-file snapshot and a journal). */
  var __writeVersion1:
    | ((
        name: string,
        snapshot: { bytes: Uint8Array; seq: number },
        journal: { seq: number; statements: { sql: string }[] }[],
      ) => Promise<void>)
    | undefined;
  /**
   * pages/database.ts: stores a database as version 2 did (the file's chunks under bare numbers, `meta` without a
   * generation, and a journal).
   */
  var __writeVersion2:
    | ((
        name: string,
        snapshot: { bytes: Uint8Array; seq: number },
        journal: { seq: number; statements: { sql: string }[] }[],
      ) => Promise<void>)
    | undefined;
  /** pages/database.ts: how many version 1 snapshots a database still holds. */
  var __version1Left: ((name: string) => Promise<number>) | undefined;
  /** pages/database.ts: deletes every stored version of a chunk of a database's file; returns how many there were. */
  var __deleteStoredChunk: ((name: string, chunk: number) => Promise<number>) | undefined;
  /** pages/database.ts: the largest value a database's journal or pages hold, in bytes (about). */
  var __largestStoredValue: ((name: string) => Promise<number>) | undefined;
  /** pages/database.ts: deletes an IndexedDB database (as clearing the site's data does). */
  var __deleteIdb: ((name: string) => Promise<void>) | undefined;
  /** pages/lock.ts: drives locks by name. */
  var __locks: PageLocks | undefined;
  /** pages/compression.ts: Node's zlib Brotli decoder, over base64 (exposed by the test). */
  var __brotliDecompress: ((base64: string) => Promise<string>) | undefined;
  /** pages/compression.ts: this page's compressor; returns the compressed size. */
  var __compress: ((level: 'fastest' | 'smallest') => Promise<number>) | undefined;
  /** pages/compression.ts: a compressor whose worker ends after 100 ms idle; returns the compressed size. */
  var __compressQuicklyIdle: ((level: 'fastest' | 'smallest') => Promise<number>) | undefined;
  /** pages/compression.ts: how many workers the page has started and ended. */
  var __workers: { started: number; ended: number } | undefined;
  /** pages/mqtt.ts: the emulator's side, exposed by the test. */
  var __emulatorProvision: () => Promise<ContractEmulatorDevice>;
  var __emulatorMessages: (deviceId: string) => Promise<{ mid: string | null; payloadBase64: string }[]>;
  var __emulatorCloudMessage: (
    deviceId: string,
    body: string,
    properties: Record<string, string>,
  ) => Promise<void>;
  var __emulatorDrop: (deviceId: string) => Promise<void>;
  var __emulatorIsConnected: (deviceId: string) => Promise<boolean>;
}

export interface IdbSummary {
  pagesSeq: number;
  journalRecords: number;
  chunks: number;
  fileBytes: number;
  chunkBytes: number;
}
