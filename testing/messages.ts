import type { MessageView } from '../emulator/http/wire.js';

/** A stored telemetry message with its payload decoded from base64. */
export interface EmulatorMessage extends MessageView {
  /** The payload (what `payloadBase64` holds), as bytes. */
  payload: Uint8Array;
}

/** The payload of a message as UTF-8 text. */
export function messageText(message: { payload: Uint8Array }): string {
  return new TextDecoder().decode(message.payload);
}

/** The payload of a message parsed as JSON. */
export function messageJson<T = unknown>(message: { payload: Uint8Array }): T {
  return JSON.parse(messageText(message)) as T;
}

/** A message as the management API sends it, its payload decoded. */
export function decoded(message: MessageView): EmulatorMessage {
  const binary = atob(message.payloadBase64);
  const payload = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) payload[i] = binary.charCodeAt(i);
  return { ...message, payload };
}
