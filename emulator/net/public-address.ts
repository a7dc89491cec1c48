/**
 * How the emulator names itself to devices. IoT Hub's host name carries no port, and clients add the default one
 * themselves (Microsoft's MqttWs dials `wss://{host}:443/…`), so on the default port the port is left out: saying
 * `localhost:443` would make such a client dial `localhost:443:443`.
 */

/** The HTTPS/WSS port IoT Hub is reached on when its host name names none. */
export const defaultHubPort = 443;

/** `host:port`, or just `host` when `port` is the default. */
export function hostAndPort(host: string, port: number, defaultPort: number): string {
  return port === defaultPort ? host : `${host}:${port}`;
}

/** The hub host name devices are given (`iotHubHostName`, the connection string and the SAS `sr`). */
export function hubHostName(publicHost: string, publicPort: number): string {
  return hostAndPort(publicHost, publicPort, defaultHubPort);
}

/** The instance URL devices are given: no port on the scheme's default (443 for https, 80 for http). */
export function instanceUrl(publicHost: string, publicPort: number, tls: boolean): string {
  return tls
    ? `https://${hostAndPort(publicHost, publicPort, 443)}`
    : `http://${hostAndPort(publicHost, publicPort, 80)}`;
}
