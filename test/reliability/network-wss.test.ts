import { describeNetworkFaults } from './network-faults.js';

// A stall and a throttle act on the TCP stream below TLS and WebSocket alike: they run over TCP only
// (network-tcp.test.ts), which keeps the suite's time in bounds. The faults that make the client reconnect (and so
// redo its TLS handshake and WebSocket upgrade) run here too.
describeNetworkFaults('wss', ['reset every 2 s for 20 s', 'black hole 20 s', 'flapping every 3 s for 15 s']);
