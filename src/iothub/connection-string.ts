/**
 * Reading the IoT Hub credentials the platform's `register` call returns, and deciding where the hub listens.
 * The response is untrusted input: everything is checked before it reaches a URL, an MQTT topic or the database,
 * and errors name the faulty field without quoting it, because the string carries a SAS token.
 */
import { invalidArgument, SpotflowError } from '../errors.js';

/** What a device needs from the connection string to reach the hub. */
export interface HubCredentials {
  /** The hub's host name as given, possibly with a port (`localhost:PORT` from the emulator). */
  hostName: string;
  /** The device's name on the hub: `{workspaceId}:{deviceId}`. Also the MQTT client id. */
  hubDeviceId: string;
  workspaceId: string;
  deviceId: string;
  /** The whole `SharedAccessSignature sr=…&sig=…&se=…` string: the MQTT password. Secret. */
  sasToken: string;
  /** When the SAS token stops being accepted (its `se`). */
  sasExpiresAt: Date;
}

/** The fields of a SAS token. */
export interface SasTokenFields {
  /** The resource the token grants access to, percent-decoded (`{host}/devices/{hubDeviceId}`). */
  sr: string;
  /** The signature, percent-decoded (base64). Secret. */
  sig: string;
  /** Expiry, in seconds since the Unix epoch. */
  se: number;
}

function protocolError(message: string, cause?: unknown): SpotflowError {
  return new SpotflowError('PROTOCOL', message, cause === undefined ? undefined : { cause });
}

const SAS_PREFIX = 'SharedAccessSignature ';

/**
 * Parses `SharedAccessSignature sr=…&sig=…&se=…` (fields in any order; unknown fields such as `skn` ignored).
 *
 * @throws SpotflowError `PROTOCOL` when the token is malformed; the message never includes the token.
 */
export function parseSasToken(token: string): SasTokenFields {
  if (typeof token !== 'string' || !token.startsWith(SAS_PREFIX)) {
    throw protocolError('Malformed SAS token: it does not start with "SharedAccessSignature "');
  }
  const fields = new Map<string, string>();
  for (const part of token.slice(SAS_PREFIX.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw protocolError('Malformed SAS token: a field is not of the form key=value');
    const key = part.slice(0, eq);
    if (fields.has(key)) throw protocolError(`Malformed SAS token: field ${safeName(key)} appears twice`);
    fields.set(key, part.slice(eq + 1));
  }
  const sr = decodeField(fields.get('sr'), 'sr');
  const sig = decodeField(fields.get('sig'), 'sig');
  const seText = fields.get('se');
  if (seText === undefined || !/^\d{1,15}$/.test(seText)) {
    throw protocolError('Malformed SAS token: se is missing or not a whole number of seconds');
  }
  return { sr, sig, se: Number(seText) };
}

function decodeField(raw: string | undefined, name: string): string {
  if (raw === undefined || raw === '')
    throw protocolError(`Malformed SAS token: ${name} is missing or empty`);
  try {
    return decodeURIComponent(raw);
  } catch {
    // The decoding error would quote the input, so it is not kept as the cause.
    throw protocolError(`Malformed SAS token: ${name} has bad percent-encoding`);
  }
}

/** A key name from untrusted input, fit to appear in a message (keys are short identifiers, never secrets). */
function safeName(key: string): string {
  return /^[A-Za-z0-9]{1,32}$/.test(key) ? `"${key}"` : '(unprintable key)';
}

// A DNS name or IPv4 address, or a bracketed IPv6 literal, with an optional port.
const hostNamePattern =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::(\d{1,5}))?$/;

// Characters that would break an MQTT topic or a URL path, plus whitespace and controls.
const forbiddenInDeviceId = /[/+#?%\s\p{Cc}]/u;

/**
 * Parses the `connectionString` of a `register` response:
 * `HostName=…;DeviceId={workspaceId}:{deviceId};SharedAccessSignature=SharedAccessSignature sr=…&sig=…&se=…`.
 * Parts may come in any order; unknown parts are ignored. The workspace id is what precedes the first `:` of
 * `DeviceId`, the device id what follows it.
 *
 * @throws SpotflowError `PROTOCOL` when anything is missing or malformed; the message never includes the token.
 */
export function parseConnectionString(connectionString: string): HubCredentials {
  if (typeof connectionString !== 'string') throw protocolError('Malformed connection string: not a string');
  const parts = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw protocolError('Malformed connection string: a part is not of the form Key=Value');
    const key = part.slice(0, eq);
    if (parts.has(key)) throw protocolError(`Malformed connection string: ${safeName(key)} appears twice`);
    parts.set(key, part.slice(eq + 1));
  }

  const hostName = parts.get('HostName');
  if (hostName === undefined || !isValidHostName(hostName)) {
    throw protocolError('Malformed connection string: HostName is missing or not a valid host[:port]');
  }

  const hubDeviceId = parts.get('DeviceId');
  const colon = hubDeviceId?.indexOf(':') ?? -1;
  if (
    hubDeviceId === undefined ||
    colon <= 0 ||
    colon === hubDeviceId.length - 1 ||
    forbiddenInDeviceId.test(hubDeviceId)
  ) {
    throw protocolError(
      'Malformed connection string: DeviceId is missing or not of the form workspaceId:deviceId',
    );
  }

  const sasToken = parts.get('SharedAccessSignature');
  if (sasToken === undefined)
    throw protocolError('Malformed connection string: SharedAccessSignature is missing');
  const { se } = parseSasToken(sasToken);

  return {
    hostName,
    hubDeviceId,
    workspaceId: hubDeviceId.slice(0, colon),
    deviceId: hubDeviceId.slice(colon + 1),
    sasToken,
    sasExpiresAt: new Date(se * 1000),
  };
}

function isValidHostName(hostName: string): boolean {
  const match = hostNamePattern.exec(hostName);
  if (match === null) return false;
  const port = match[1];
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

/** Where the hub listens, for each transport the SDK uses. */
export interface HubEndpoints {
  /** MQTT over TCP: `mqtts://host:8883`, or `mqtt(s)://host:PORT` when the host name carries a port. */
  mqttUrl: string;
  /** MQTT over WebSockets: `wss://host/$iothub/websocket` (port 443), or `ws(s)://host:PORT/$iothub/websocket`. */
  webSocketUrl: string;
  /** Base of the hub's HTTPS API (file upload), without a trailing slash. */
  httpsBase: string;
  /** Whether the three use TLS. */
  secure: boolean;
}

/** The WebSocket path IoT Hub serves MQTT on. */
export const HUB_WEBSOCKET_PATH = '/$iothub/websocket';

/**
 * Decides the hub endpoints (SPEC.md §6, last paragraph). A host name with a port (`localhost:PORT`, the emulator)
 * means every transport uses that port and the instance URL's scheme decides TLS (`https:` → mqtts/wss/https,
 * `http:` → mqtt/ws/http). A host name without a port is a real hub: always TLS, MQTT on 8883, WebSockets and
 * HTTPS on 443, whatever the instance's scheme.
 *
 * @param hostName the hub host name from the register response (already checked by {@link parseConnectionString}).
 * @param instanceUrl the platform instance URL the device talks to.
 * @throws SpotflowError `PROTOCOL` for a malformed host name, `INVALID_ARGUMENT` for an instance URL that is not
 * `http:` or `https:`.
 */
export function hubEndpoints(hostName: string, instanceUrl: string): HubEndpoints {
  const match = hostNamePattern.exec(hostName);
  if (match === null || !isValidHostName(hostName)) {
    throw protocolError('The hub host name is not a valid host[:port]');
  }
  const port = match[1];
  if (port === undefined) {
    return {
      mqttUrl: `mqtts://${hostName}:8883`,
      webSocketUrl: `wss://${hostName}${HUB_WEBSOCKET_PATH}`,
      httpsBase: `https://${hostName}`,
      secure: true,
    };
  }
  const secure = instanceIsSecure(instanceUrl);
  return {
    mqttUrl: `${secure ? 'mqtts' : 'mqtt'}://${hostName}`,
    webSocketUrl: `${secure ? 'wss' : 'ws'}://${hostName}${HUB_WEBSOCKET_PATH}`,
    httpsBase: `${secure ? 'https' : 'http'}://${hostName}`,
    secure,
  };
}

function instanceIsSecure(instanceUrl: string): boolean {
  let protocol: string;
  try {
    protocol = new URL(instanceUrl).protocol;
  } catch (error) {
    throw invalidArgument('The instance URL is not a valid URL', { cause: error });
  }
  if (protocol === 'https:') return true;
  if (protocol === 'http:') return false;
  throw invalidArgument('The instance URL must start with https:// or http://');
}
