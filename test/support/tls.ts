import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, removeDir } from './tmp.js';

export interface TestPki {
  /** PEM of the self-made certificate authority that signed `certPem`. */
  caPem: string;
  /** PEM of the server certificate (leaf only, no chain). */
  certPem: string;
  /** PEM (PKCS#8) private key belonging to `certPem`. */
  keyPem: string;
  /** base64 of `caPem`, the shape used when a CA travels inside config or JSON. */
  base64CA: string;
  /** Folder holding the generated files; remove it with `removeDir` when done. */
  dir: string;
  /** File paths, for code under test that takes certificates from disk. */
  caPath: string;
  certPath: string;
  keyPath: string;
}

export interface TestPkiOptions {
  /** DNS names the server certificate must cover, in addition to `localhost`. */
  hostnames?: string[];
  /** IP addresses the server certificate must cover, in addition to `127.0.0.1`. */
  ips?: string[];
}

const OPENSSL = process.env.OPENSSL_BIN ?? 'openssl';
/** Short, so a stray certificate cannot be mistaken for anything long-lived. */
const VALIDITY_DAYS = '3';
const DEFAULT_HOSTNAMES = ['localhost'];
const DEFAULT_IPS = ['127.0.0.1'];
const HOSTNAME_PATTERN = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/**
 * Generates a throwaway CA plus a server certificate signed by it. EC P-256
 * keeps key generation fast enough to run per test file.
 */
export function createTestPki(opts: TestPkiOptions = {}): TestPki {
  const subjectAltName = buildSubjectAltName(opts);
  const dir = makeTempDir('herald-pki-');
  try {
    const ca = createCertificateAuthority(dir);
    const leaf = createServerCertificate(dir, ca, subjectAltName);
    const caPem = readFileSync(ca.certPath, 'utf8');
    return {
      caPem,
      certPem: readFileSync(leaf.certPath, 'utf8'),
      keyPem: readFileSync(leaf.keyPath, 'utf8'),
      base64CA: Buffer.from(caPem, 'utf8').toString('base64'),
      dir,
      caPath: ca.certPath,
      certPath: leaf.certPath,
      keyPath: leaf.keyPath,
    };
  } catch (error) {
    removeDir(dir);
    throw error;
  }
}

/** A CA that signed nothing: trusting only this one must make verification fail. */
export function createUnrelatedCaPem(): string {
  const dir = makeTempDir('herald-unrelated-ca-');
  try {
    return readFileSync(createCertificateAuthority(dir).certPath, 'utf8');
  } finally {
    removeDir(dir);
  }
}

interface KeyAndCert {
  keyPath: string;
  certPath: string;
}

function createCertificateAuthority(dir: string): KeyAndCert {
  const keyPath = generateEcKey(dir, 'ca-key.pem');
  const certPath = join(dir, 'ca-cert.pem');
  // A random suffix gives each CA a distinct subject, so an unrelated CA
  // can never be confused with the real issuer by name.
  const configPath = writeConfig(dir, 'ca.cnf', [
    '[req]',
    'prompt = no',
    'distinguished_name = dn',
    'x509_extensions = ca_ext',
    '[dn]',
    `CN = Herald Test CA ${randomBytes(4).toString('hex')}`,
    '[ca_ext]',
    'basicConstraints = critical, CA:TRUE',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
  ]);
  runOpenssl(dir, ['req', '-x509', '-new', '-config', configPath, '-key', keyPath,
    '-sha256', '-days', VALIDITY_DAYS, '-out', certPath]);
  return { keyPath, certPath };
}

function createServerCertificate(dir: string, ca: KeyAndCert, subjectAltName: string): KeyAndCert {
  const keyPath = generateEcKey(dir, 'server-key.pem');
  const csrPath = join(dir, 'server.csr');
  const certPath = join(dir, 'server-cert.pem');
  const requestConfig = writeConfig(dir, 'server-req.cnf', [
    '[req]',
    'prompt = no',
    'distinguished_name = dn',
    '[dn]',
    'CN = localhost',
  ]);
  // Extensions are applied at signing time; the CSR carries only the subject.
  const extensionConfig = writeConfig(dir, 'server-ext.cnf', [
    '[server_ext]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${subjectAltName}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ]);
  runOpenssl(dir, ['req', '-new', '-config', requestConfig, '-key', keyPath, '-out', csrPath]);
  runOpenssl(dir, ['x509', '-req', '-in', csrPath, '-CA', ca.certPath, '-CAkey', ca.keyPath,
    '-set_serial', randomSerial(), '-days', VALIDITY_DAYS, '-sha256',
    '-extfile', extensionConfig, '-extensions', 'server_ext', '-out', certPath]);
  return { keyPath, certPath };
}

function buildSubjectAltName(opts: TestPkiOptions): string {
  const hostnames = unique([...DEFAULT_HOSTNAMES, ...(opts.hostnames ?? [])]);
  const ips = unique([...DEFAULT_IPS, ...(opts.ips ?? [])]);
  // Values end up inside an openssl config file, so reject anything that
  // could break out of the subjectAltName line.
  for (const name of hostnames) {
    if (!HOSTNAME_PATTERN.test(name)) throw new Error(`invalid hostname for test certificate: ${name}`);
  }
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new Error(`invalid IP address for test certificate: ${ip}`);
  }
  return [...hostnames.map((name) => `DNS:${name}`), ...ips.map((ip) => `IP:${ip}`)].join(', ');
}

function generateEcKey(dir: string, fileName: string): string {
  const keyPath = join(dir, fileName);
  runOpenssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath]);
  return keyPath;
}

function writeConfig(dir: string, fileName: string, lines: string[]): string {
  const path = join(dir, fileName);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** Positive, random serials so two certificates from one CA never share one. */
function randomSerial(): string {
  return `0x01${randomBytes(8).toString('hex')}`;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function runOpenssl(cwd: string, args: string[]): void {
  try {
    execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`openssl ${args[0]} failed: ${stderr || (error as Error).message}`);
  }
}
