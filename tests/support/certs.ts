/**
 * A throw-away PKI for TLS tests, generated with the openssl CLI.
 *
 * Why the CLI and not node:crypto: Node can make keys but cannot issue X.509
 * certificates. We run openssl with execFile (no shell, so no quoting issues)
 * and the certificates must satisfy both Go's crypto/x509 (blackbox_exporter)
 * and Node's OpenSSL-based verifier, so every leaf carries subjectAltName,
 * an extendedKeyUsage and CA:FALSE, and the CA carries CA:TRUE + keyCertSign.
 *
 * Why `openssl ca` and not `openssl x509 -req`: OpenSSL 3.0 (Debian bookworm)
 * has no -not_before/-not_after on `x509`, but `ca` takes -startdate/-enddate,
 * which we need for a certificate that is already expired. Using `ca` for every
 * certificate keeps the recipe uniform.
 *
 * Keys are EC P-256: much faster to generate than RSA and accepted by Go and Node.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

const OPENSSL = '/usr/bin/openssl';

/** A certificate with its private key, as files and as PEM text. */
export interface CertKeyPair {
  /** Absolute path of the PEM certificate. */
  certPath: string;
  /** Absolute path of the PEM (PKCS#8, unencrypted) private key. */
  keyPath: string;
  /** PEM text of the certificate. */
  cert: string;
  /** PEM text of the private key. */
  key: string;
  /** The certificate's notAfter, read back from the issued certificate. */
  notAfter: Date;
  /** The certificate's notBefore, read back from the issued certificate. */
  notBefore: Date;
}

export interface TestPki {
  /** The temporary directory holding every file; removed by cleanup(). */
  dir: string;
  /** Absolute path of the CA certificate (ca.pem): what clients should trust. */
  caCertPath: string;
  /** Absolute path of the CA key (ca-key.pem). */
  caKeyPath: string;
  /** PEM text of the CA certificate. */
  caCert: string;
  /** PEM text of the CA key. */
  caKey: string;
  /** Valid server leaf (~90 days) for DNS:localhost, IP:127.0.0.1, IP:::1. */
  server: CertKeyPair;
  /** Server leaf for the same names whose validity ended on 2021-01-01. */
  expired: CertKeyPair;
  /** Valid server leaf for DNS:wrong.example only (hostname mismatch). */
  wrongHost: CertKeyPair;
  /** Client certificate (clientAuth EKU) for mutual TLS. */
  client: CertKeyPair;
  /** Removes the temporary directory and everything in it. */
  cleanup(): Promise<void>;
}

/** The validity window of the expired leaf: fixed dates in the past. */
export const EXPIRED_NOT_BEFORE = '20200101000000Z';
export const EXPIRED_NOT_AFTER = '20210101000000Z';

/** Names the valid and expired server leaves are issued for. */
export const SERVER_SAN = 'DNS:localhost, IP:127.0.0.1, IP:::1';

function run(args: string[], cwd: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    execFile(OPENSSL, args, { cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const hint = code === 'ENOENT' ? ` (${OPENSSL} not found: apt-get install openssl)` : '';
        reject(new Error(`openssl ${args.join(' ')} failed${hint}: ${err.message}\n${stderr}`));
        return;
      }
      resolve();
    });
  });
}

/** openssl `ca` dates are UTC in GeneralizedTime form: YYYYMMDDHHMMSSZ. */
function opensslDate(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` + `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

/**
 * The openssl config used for every command. Paths are absolute so the commands
 * do not depend on the working directory, and no system openssl.cnf is read
 * (its defaults differ between distributions).
 */
function opensslConfig(dir: string): string {
  return `
[ ca ]
default_ca = test_ca

[ test_ca ]
database = ${path.join(dir, 'index.txt')}
new_certs_dir = ${path.join(dir, 'issued')}
# Random serials: no serial file to keep, and never two certs with one serial.
rand_serial = yes
default_md = sha256
policy = policy_any
# Several leaves share a subject (CN=localhost); that is fine for tests.
unique_subject = no
# Extensions come only from the sections below, never from the CSR.
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = ${SERVER_SAN}

[ wrong_host_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example

[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;
}

/** Generates an EC P-256 key and a CSR for it. */
async function newKeyAndCsr(dir: string, cnf: string, name: string, cn: string): Promise<void> {
  await run(
    [
      'req',
      '-new',
      '-config',
      cnf,
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      path.join(dir, `${name}-key.pem`),
      '-out',
      path.join(dir, `${name}.csr`),
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
}

interface IssueOptions {
  name: string;
  cn: string;
  extensions: string;
  start: string;
  end: string;
}

/** Issues `${name}.pem` signed by the CA (or self-signed when name is 'ca'). */
async function issue(dir: string, cnf: string, o: IssueOptions): Promise<void> {
  await newKeyAndCsr(dir, cnf, o.name, o.cn);
  const signer = o.name === 'ca' ? ['-selfsign', '-keyfile', path.join(dir, 'ca-key.pem')] : ['-cert', path.join(dir, 'ca.pem'), '-keyfile', path.join(dir, 'ca-key.pem')];
  await run(
    [
      'ca',
      '-batch',
      '-notext',
      '-config',
      cnf,
      ...signer,
      '-extensions',
      o.extensions,
      '-startdate',
      o.start,
      '-enddate',
      o.end,
      '-in',
      path.join(dir, `${o.name}.csr`),
      '-out',
      path.join(dir, `${o.name}.pem`),
    ],
    dir,
  );
}

async function loadPair(dir: string, name: string): Promise<CertKeyPair> {
  const certPath = path.join(dir, `${name}.pem`);
  const keyPath = path.join(dir, `${name}-key.pem`);
  const [cert, key] = await Promise.all([fs.readFile(certPath, 'utf8'), fs.readFile(keyPath, 'utf8')]);
  // Read the dates back from the certificate itself rather than trusting what we asked for.
  const x509 = new X509Certificate(cert);
  return {
    certPath,
    keyPath,
    cert,
    key,
    notAfter: new Date(x509.validTo),
    notBefore: new Date(x509.validFrom),
  };
}

/**
 * Creates a fresh PKI in a new temporary directory.
 *
 * @param parentDir where the temporary directory is created (default os.tmpdir()).
 *   A fresh mkdtemp directory is always used, so cleanup() never removes
 *   anything the caller owns.
 */
export async function makeTestPki(parentDir?: string): Promise<TestPki> {
  const parent = parentDir ?? os.tmpdir();
  await fs.mkdir(parent, { recursive: true });
  const dir = await fs.realpath(await fs.mkdtemp(path.join(parent, 'checkpoint-pki-')));
  try {
    const cnf = path.join(dir, 'openssl.cnf');
    await fs.writeFile(cnf, opensslConfig(dir));
    await fs.writeFile(path.join(dir, 'index.txt'), '');
    await fs.mkdir(path.join(dir, 'issued'));

    const now = Date.now();
    const day = 24 * 60 * 60 * 1000;
    // Backdate a little so a clock skew between processes never makes a cert "not yet valid".
    const validFrom = opensslDate(new Date(now - day));
    // The CA starts before the expired leaf so that leaf sits inside its issuer's validity
    // (stricter verifiers than Go/Node could otherwise report the wrong error).
    await issue(dir, cnf, {
      name: 'ca',
      cn: 'Private Checkpoint Test CA',
      extensions: 'ca_ext',
      start: '20190101000000Z',
      end: opensslDate(new Date(now + 3650 * day)),
    });
    // The leaves are independent of each other; issue them one after another anyway,
    // because `openssl ca` rewrites index.txt and is not safe to run concurrently.
    const leaves = [
      { name: 'server', cn: 'localhost', extensions: 'server_ext', start: validFrom, end: opensslDate(new Date(now + 90 * day)) },
      { name: 'expired', cn: 'localhost', extensions: 'server_ext', start: EXPIRED_NOT_BEFORE, end: EXPIRED_NOT_AFTER },
      { name: 'wrong-host', cn: 'wrong.example', extensions: 'wrong_host_ext', start: validFrom, end: opensslDate(new Date(now + 90 * day)) },
      { name: 'client', cn: 'checkpoint-probe', extensions: 'client_ext', start: validFrom, end: opensslDate(new Date(now + 90 * day)) },
    ];
    for (const leaf of leaves) await issue(dir, cnf, leaf);

    const caCertPath = path.join(dir, 'ca.pem');
    const caKeyPath = path.join(dir, 'ca-key.pem');
    const [caCert, caKey, server, expired, wrongHost, client] = await Promise.all([
      fs.readFile(caCertPath, 'utf8'),
      fs.readFile(caKeyPath, 'utf8'),
      loadPair(dir, 'server'),
      loadPair(dir, 'expired'),
      loadPair(dir, 'wrong-host'),
      loadPair(dir, 'client'),
    ]);
    return {
      dir,
      caCertPath,
      caKeyPath,
      caCert,
      caKey,
      server,
      expired,
      wrongHost,
      client,
      cleanup: () => fs.rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}
