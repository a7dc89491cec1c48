/**
 * The portal deep link a technician opens from a phone, and its QR code drawn as SVG (package `qrcode`: only its
 * encoder is used; the modules are drawn here as one SVG path, crisp at any size, with no HTML strings).
 */
import QRCode from 'qrcode';

const svgNs = 'http://www.w3.org/2000/svg';
/** Query parameters that might carry a secret: dropped from the link shown to anyone who can see the panel. */
const secretParameter = /token|key|secret|sig|password/i;

/**
 * `portalUrl` without its fragment (the emulator's portal URL carries its API token there) and without any
 * secret-looking query parameter, then `#operation=<id>`: the portal opens on that provisioning operation.
 */
export function portalDeepLink(
  portalUrl: string,
  operationId: string,
  secrets: readonly string[] = [],
): string {
  const url = new URL(portalUrl);
  url.hash = '';
  for (const name of [...url.searchParams.keys()]) {
    if (secretParameter.test(name)) url.searchParams.delete(name);
  }
  const link = `${url.href}#operation=${encodeURIComponent(operationId)}`;
  if (secrets.some((secret) => secret !== '' && link.includes(secret))) {
    throw new Error('portalUrl holds the provisioning token: the QR code is not shown (fix config.json)');
  }
  return link;
}

/** Draws `text` as a QR code into `svg` (replacing what it held) and records it in `data-url`. */
export function renderQr(svg: SVGSVGElement, text: string): void {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const quiet = 4;
  const size = modules.size + 2 * quiet;
  let path = '';
  for (let row = 0; row < modules.size; row++) {
    for (let col = 0; col < modules.size; col++) {
      if (modules.get(row, col)) path += `M${col + quiet} ${row + quiet}h1v1h-1z`;
    }
  }
  const background = document.createElementNS(svgNs, 'rect');
  background.setAttribute('width', String(size));
  background.setAttribute('height', String(size));
  background.setAttribute('fill', '#fff');
  const dark = document.createElementNS(svgNs, 'path');
  dark.setAttribute('d', path);
  dark.setAttribute('fill', '#000');
  svg.replaceChildren(background, dark);
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `QR code: ${text}`);
  svg.dataset.url = text;
}
