import { webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import type { EmulatorLogger } from '../log.js';

export interface TlsMaterial {
  /** PEM of the CA that signed the server certificate: what clients must trust. */
  ca: string;
  caFile: string;
  cert: string;
  key: string;
}

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const crypto = webcrypto;
x509.cryptoProvider.set(crypto as never);

/** Names every server certificate carries; `extraHost` adds one (a `--public-host`). */
function hostNames(extraHost: string | undefined): string[] {
  const names = ['localhost', '127.0.0.1', '::1'];
  if (extraHost !== undefined && !names.includes(extraHost)) names.push(extraHost);
  return names;
}

/** True when the certificate is valid for every name. */
function coversAll(certPem: string, names: string[]): boolean {
  const cert = new X509Certificate(certPem);
  return names.every((name) =>
    isIP(name) ? cert.checkIP(name) !== undefined : cert.checkHost(name, { wildcards: false }) !== undefined,
  );
}

/**
 * The emulator's TLS identity: a private CA and a server certificate signed by it for `localhost` (and the public
 * host, when there is one), made on first start and kept in the data directory, so clients that trust the CA keep
 * working across restarts. When the stored server certificate lacks a name, a new one is issued by the same CA.
 */
export async function loadOrCreateTlsMaterial(
  dir: string,
  options: { publicHost?: string; log?: EmulatorLogger } = {},
): Promise<TlsMaterial> {
  const files = {
    ca: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
  };
  const names = hostNames(options.publicHost);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const writeSecret = (file: string, pem: string) => {
    writeFileSync(file, pem, { mode: 0o600 });
    chmodSync(file, 0o600);
  };
  const complete = [files.ca, files.cert, files.key].every((file) => existsSync(file));
  if (!complete) {
    const ca = await createCa();
    writeFileSync(files.ca, ca.cert);
    writeSecret(files.caKey, ca.key);
  } else if (!coversAll(readFileSync(files.cert, 'utf8'), names)) {
    if (!existsSync(files.caKey)) {
      // Data directories from before the CA key was kept: a new CA is the only way to a new certificate.
      options.log?.warn('the TLS certificate lacks a host name and the CA key is not kept: making a new CA', {
        names,
        caFile: files.ca,
      });
      const ca = await createCa();
      writeFileSync(files.ca, ca.cert);
      writeSecret(files.caKey, ca.key);
    }
    options.log?.info('issuing a new TLS server certificate', { names });
  } else {
    return readMaterial(files);
  }
  const server = await createServerCertificate(
    readFileSync(files.ca, 'utf8'),
    readFileSync(files.caKey, 'utf8'),
    names,
  );
  writeFileSync(files.cert, server.cert);
  writeSecret(files.key, server.key);
  return readMaterial(files);
}

function readMaterial(files: { ca: string; cert: string; key: string }): TlsMaterial {
  return {
    ca: readFileSync(files.ca, 'utf8'),
    caFile: files.ca,
    cert: readFileSync(files.cert, 'utf8'),
    key: readFileSync(files.key, 'utf8'),
  };
}

const validity = () => ({
  notBefore: new Date(Date.now() - 24 * 3600_000),
  notAfter: new Date(Date.now() + 10 * 365 * 24 * 3600_000),
});

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function createCa(): Promise<{ cert: string; key: string }> {
  const keys = (await crypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=Spotflow Emulator Local CA',
    keys,
    ...validity(),
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await exportKey(keys.privateKey) };
}

async function createServerCertificate(
  caPem: string,
  caKeyPem: string,
  names: string[],
): Promise<{ cert: string; key: string }> {
  const caCert = new x509.X509Certificate(caPem);
  const caKey = await crypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(caKeyPem),
    algorithm,
    false,
    ['sign'],
  );
  const serverKeys = (await crypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const serverCert = await x509.X509CertificateGenerator.create({
    subject: 'CN=localhost',
    issuer: caCert.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKey,
    ...validity(),
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((name) => ({ type: isIP(name) ? ('ip' as const) : ('dns' as const), value: name })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: serverCert.toString('pem'), key: await exportKey(serverKeys.privateKey) };
}
