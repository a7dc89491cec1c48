import { describeNetworkFaults } from './network-faults.js';

describeNetworkFaults('wss');
