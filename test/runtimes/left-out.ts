/**
 * Contract cases the runtimes suite leaves out, and why; runtimes.ts lists each as skipped, with the reason.
 */
export const leftOutMqttCases: ReadonlyMap<string, string> = new Map([
  [
    'keeps messages that arrive before a handler is set, and delivers them once it is',
    // Found here, not fixed here (the emulator's own change): see the runtimes branch report.
    'the emulator sometimes writes the queued C2D PUBLISH before the SUBACK when the client subscribes quickly ' +
      '(1 run in 3 on Bun); MQTT.js then reads nothing past the unhandled PUBLISH, so the SUBACK this case awaits ' +
      'before setting its handler never comes. The SDK sets its handler before subscribing.',
  ],
]);
