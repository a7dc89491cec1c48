import { describeNetworkFaults } from './network-faults.js';

// One fault per file: a case spends most of its half minute waiting through its fault, so the cases run side by side
// in separate workers (each file has its own emulator process and proxy).
describeNetworkFaults('tcp', ['black hole 20 s']);
