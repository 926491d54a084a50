/**
 * The manual installation package (SPEC D4): a ZIP for a server administrator who installs a certificate by hand.
 * Pure: no I/O, no clock (the entries' timestamp is an input).
 *
 * | entry             | contents                                                                           |
 * | ----------------- | ---------------------------------------------------------------------------------- |
 * | `cert.pem`        | the leaf certificate                                                               |
 * | `chain.pem`       | the intermediates, issuer first (empty when the leaf is issued by a root directly) |
 * | `fullchain.pem`   | leaf + intermediates                                                               |
 * | `key.pem`         | the private key, PKCS#8 encrypted (PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC)        |
 * | `certificate.p12` | PKCS#12 with leaf, chain and key (PBES2 AES-256-CBC, HMAC-SHA-256 MAC)             |
 * | `README.txt`      | install, validate, reload and verify steps for the chosen server type              |
 *
 * The private key never appears unencrypted: `key.pem` and `certificate.p12` are both protected by `password`, which
 * is in no entry (and in no error message). Key files carry Unix mode 0600 in the archive, the others 0644.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { zipSync, type ZipOptions, type Zippable } from 'fflate';
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { createPkcs12 } from '../issuers/internal-ca/pkcs12';
import { parseInput } from '../services/definition-service';

/** Server software the README has steps for. `file`: generic PEM files; `iis-or-other`: import the PKCS#12. */
export const MANUAL_SERVER_TYPES = [
  'nginx',
  'apache',
  'haproxy',
  'postfix',
  'dovecot',
  'java-keystore',
  'file',
  'iis-or-other',
] as const;
export type ManualServerType = (typeof MANUAL_SERVER_TYPES)[number];

/** The password protecting `key.pem` and `certificate.p12`: 12 to 1024 characters. */
export const manualPackagePasswordSchema = z
  .string()
  .min(12, 'the package password needs at least 12 characters')
  .max(1024)
  .describe('protects key.pem and certificate.p12; never stored, mailed or logged');

const pem = z
  .string()
  .min(1)
  .max(256 * 1024);

export const manualPackageInputSchema = z
  .object({
    /** Shown in README.txt and used for the suggested file names on the server. */
    commonName: z.string().min(1).max(300),
    certificatePem: pem,
    /** Intermediates, issuer first. */
    chainPem: z.array(pem).max(20).default([]),
    /** The unencrypted private key (PEM, any form Node reads). It must belong to the certificate. */
    privateKeyPem: pem,
    password: manualPackagePasswordSchema,
    serverType: z.enum(MANUAL_SERVER_TYPES),
    /** Timestamp of the ZIP entries. @default 1980-01-01 (the ZIP epoch), so equal inputs give equal layouts */
    createdAt: z.date().optional(),
  })
  .strict();
export type ManualPackageInput = z.input<typeof manualPackageInputSchema>;

/** Entry names, in archive order. */
export const MANUAL_PACKAGE_FILES = [
  'README.txt',
  'cert.pem',
  'chain.pem',
  'fullchain.pem',
  'key.pem',
  'certificate.p12',
] as const;

const ZIP_EPOCH = new Date(1980, 0, 1);

function withNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** A name safe for a file on the server: `*.example.com` → `wildcard.example.com`. */
export function serverFileSlug(commonName: string): string {
  const slug = commonName
    .trim()
    .toLowerCase()
    .replace(/^\*\./, 'wildcard.')
    .replace(/[^a-z0-9.-]+/g, '_')
    .replace(/^[.-]+/, '')
    .slice(0, 100);
  return slug || 'certificate';
}

function parseCertificate(text: string, what: string): X509Certificate {
  try {
    return new X509Certificate(text);
  } catch (cause) {
    throw new CertFleetError('CF_VALIDATION', `manual-package: ${what} is not a PEM certificate`, { cause });
  }
}

function parseKey(text: string): KeyObject {
  try {
    return createPrivateKey(text);
  } catch (cause) {
    // no cause text: it could quote key material
    void cause;
    throw new CertFleetError('CF_VALIDATION', 'manual-package: the private key cannot be read (unencrypted PEM)');
  }
}

export interface ManualInstallSteps {
  /** Where the files go and the configuration lines. */
  install: string[];
  validate: string[];
  reload: string[];
  /** Port and s_client options for the check. */
  probe: { port: number; starttls?: string };
}

/** Install steps per server type; `n` is the file-name slug for the server. */
function stepsFor(type: ManualServerType, n: string): ManualInstallSteps {
  const decryptKey = (path: string): string =>
    `(umask 077; openssl pkey -in key.pem -out ${path})   # asks for the package password; writes the key unencrypted, mode 0600`;
  switch (type) {
    case 'nginx':
      return {
        install: [
          `install -m 0644 fullchain.pem /etc/nginx/tls/${n}.fullchain.pem`,
          decryptKey(`/etc/nginx/tls/${n}.key`),
          'In the server block:',
          `    ssl_certificate     /etc/nginx/tls/${n}.fullchain.pem;`,
          `    ssl_certificate_key /etc/nginx/tls/${n}.key;`,
        ],
        validate: ['nginx -t'],
        reload: ['systemctl reload nginx      (or: nginx -s reload)'],
        probe: { port: 443 },
      };
    case 'apache':
      return {
        install: [
          `install -m 0644 fullchain.pem /etc/ssl/certs/${n}.fullchain.pem`,
          decryptKey(`/etc/ssl/private/${n}.key`),
          'In the <VirtualHost *:443> (Apache httpd 2.4.8 or later reads the chain from the same file):',
          `    SSLCertificateFile    /etc/ssl/certs/${n}.fullchain.pem`,
          `    SSLCertificateKeyFile /etc/ssl/private/${n}.key`,
        ],
        validate: ['apachectl configtest'],
        reload: ['apachectl graceful      (or: systemctl reload apache2 / httpd)'],
        probe: { port: 443 },
      };
    case 'haproxy':
      return {
        install: [
          'HAProxy reads one PEM file holding the full chain and the key:',
          `(umask 077; { cat fullchain.pem; openssl pkey -in key.pem; } > /etc/haproxy/certs/${n}.pem)   # asks for the package password`,
          'In the frontend:',
          `    bind :443 ssl crt /etc/haproxy/certs/${n}.pem`,
        ],
        validate: ['haproxy -c -f /etc/haproxy/haproxy.cfg'],
        reload: ['systemctl reload haproxy'],
        probe: { port: 443 },
      };
    case 'postfix':
      return {
        install: [
          `install -m 0644 fullchain.pem /etc/postfix/tls/${n}.fullchain.pem`,
          decryptKey(`/etc/postfix/tls/${n}.key`),
          'In /etc/postfix/main.cf (Postfix 3.4 or later; key first, then the certificate chain):',
          `    smtpd_tls_chain_files = /etc/postfix/tls/${n}.key, /etc/postfix/tls/${n}.fullchain.pem`,
        ],
        validate: ['postfix check'],
        reload: ['postfix reload'],
        probe: { port: 25, starttls: 'smtp' },
      };
    case 'dovecot':
      return {
        install: [
          `install -m 0644 fullchain.pem /etc/dovecot/private/${n}.fullchain.pem`,
          decryptKey(`/etc/dovecot/private/${n}.key`),
          'In /etc/dovecot/conf.d/10-ssl.conf (the "<" is part of the value):',
          `    ssl_cert = </etc/dovecot/private/${n}.fullchain.pem`,
          `    ssl_key = </etc/dovecot/private/${n}.key`,
        ],
        validate: ['doveconf -n > /dev/null'],
        reload: ['doveadm reload      (or: systemctl reload dovecot)'],
        probe: { port: 993 },
      };
    case 'java-keystore':
      return {
        install: [
          'certificate.p12 is a PKCS#12 keystore (key + chain); Tomcat and other Java servers read it as is:',
          `install -m 0600 certificate.p12 /etc/tomcat/${n}.p12`,
          'In conf/server.xml, inside the <Connector> of port 8443:',
          `    <Certificate certificateKeystoreFile="/etc/tomcat/${n}.p12" certificateKeystoreType="PKCS12"`,
          '                 certificateKeystorePassword="(the package password)" />',
          `For a JKS store instead: keytool -importkeystore -srckeystore certificate.p12 -srcstoretype PKCS12 -destkeystore /etc/tomcat/${n}.jks -deststoretype JKS`,
        ],
        validate: [`keytool -list -keystore /etc/tomcat/${n}.p12 -storetype PKCS12`],
        reload: ['systemctl restart tomcat      (Java servers read the keystore at start)'],
        probe: { port: 8443 },
      };
    case 'file':
      return {
        install: [
          'Copy the PEM files where the service expects them:',
          `install -m 0644 cert.pem chain.pem fullchain.pem /etc/ssl/${n}/`,
          decryptKey(`/etc/ssl/${n}/key.pem`),
        ],
        validate: [
          `openssl x509 -in /etc/ssl/${n}/cert.pem -noout -subject -enddate`,
          `openssl verify -untrusted /etc/ssl/${n}/chain.pem /etc/ssl/${n}/cert.pem   # add -CAfile for a private root`,
          "and the service's own configuration test, if it has one",
        ],
        reload: ["the service's reload command, e.g. systemctl reload <service>"],
        probe: { port: 443 },
      };
    case 'iis-or-other':
      return {
        install: [
          'Import certificate.p12 (it holds the key and the chain). On Windows, in an elevated PowerShell:',
          '    Import-PfxCertificate -FilePath .\\certificate.p12 -CertStoreLocation Cert:\\LocalMachine\\My -Password (Read-Host -AsSecureString)',
          'In IIS Manager: Sites > your site > Bindings > https > choose the imported certificate.',
          'Other software: import certificate.p12, or use the PEM files (decrypt the key with: openssl pkey -in key.pem -out key.unencrypted.pem).',
        ],
        validate: ['Get-ChildItem Cert:\\LocalMachine\\My | Where-Object Thumbprint -eq <SHA-1 below>'],
        reload: ['iisreset /noforce      (or restart the site; other software: its own restart)'],
        probe: { port: 443 },
      };
  }
}

/** The s_client command that prints the served leaf's SHA-256 fingerprint. */
function sClientCommand(commonName: string, probe: ManualInstallSteps['probe']): string {
  const host = commonName.replace(/^\*\./, 'www.');
  return [
    `openssl s_client -connect ${host}:${probe.port} -servername ${host}`,
    probe.starttls ? ` -starttls ${probe.starttls}` : '',
    ' </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256',
  ].join('');
}

/**
 * The install steps as single lines (install, validate, reload, verify), for the install-request mail. `sha256` is
 * the leaf's fingerprint in any form (hex, with or without colons).
 */
export function manualInstallStepLines(commonName: string, serverType: ManualServerType, sha256: string): string[] {
  const steps = stepsFor(serverType, serverFileSlug(commonName));
  const fp = sha256.replace(/:/g, '').toUpperCase().match(/../g)?.join(':') ?? sha256;
  return [
    `Install (${serverType}): ${steps.install.map((l) => l.trim()).join(' | ')}`,
    `Validate: ${steps.validate.join('; ')}`,
    `Reload: ${steps.reload.join('; ')}`,
    `Verify: ${sClientCommand(commonName, steps.probe)} must print sha256 Fingerprint=${fp}`,
  ];
}

/** The README for `type` (exported for tests and the install-request mail, which lists the same steps). */
export function manualPackageReadme(opts: {
  commonName: string;
  serverType: ManualServerType;
  leaf: X509Certificate;
  chainLength: number;
}): string {
  const n = serverFileSlug(opts.commonName);
  const steps = stepsFor(opts.serverType, n);
  const sha256 = opts.leaf.fingerprint256;
  const sClient = sClientCommand(opts.commonName, steps.probe);
  const section = (title: string, lines: string[]): string[] => [title, ...lines.map((l) => (l ? `  ${l}` : '')), ''];
  return [
    `CertFleet manual installation package: ${opts.commonName}`,
    `Server type: ${opts.serverType}`,
    '',
    `Subject:      ${opts.leaf.subject.replace(/\n/g, ', ')}`,
    `Issuer:       ${opts.leaf.issuer.replace(/\n/g, ', ')}`,
    `Valid from:   ${new Date(opts.leaf.validFrom).toISOString()}`,
    `Valid until:  ${new Date(opts.leaf.validTo).toISOString()}`,
    `SHA-256:      ${sha256}`,
    `SHA-1:        ${opts.leaf.fingerprint}`,
    '',
    ...section('Files', [
      'cert.pem          the server certificate (leaf)',
      `chain.pem         the intermediate CA certificates (${opts.chainLength}), issuer first`,
      'fullchain.pem     cert.pem followed by chain.pem',
      'key.pem           the private key, encrypted (PKCS#8, AES-256-CBC): needs the package password',
      'certificate.p12   PKCS#12 with key, certificate and chain (AES-256-CBC): needs the package password',
      'README.txt        this file',
      '',
      'The package password was chosen when the package was made; it is not in this package or in any mail.',
      'Keep the private key readable by root (or the service user) only, and delete this package when done.',
    ]),
    ...section(`1. Install (${opts.serverType})`, steps.install),
    ...section('2. Validate the configuration', steps.validate),
    ...section('3. Reload', steps.reload),
    ...section('4. Verify', [
      sClient,
      'must print (OpenSSL 1.1 writes "SHA256" in capitals):',
      `  sha256 Fingerprint=${sha256}`,
      'Then confirm the installation in the CertFleet console (or let its deploy check run).',
    ]),
  ].join('\n');
}

/**
 * Builds the manual package ZIP (see the module comment). Throws CF_VALIDATION for bad input: a password under 12
 * characters, an unknown server type, unreadable PEM, or a key that does not belong to the certificate.
 */
export async function buildManualPackage(input: ManualPackageInput): Promise<Buffer> {
  const data = parseInput(manualPackageInputSchema, input, 'manual-package');
  const leaf = parseCertificate(data.certificatePem, 'the certificate');
  data.chainPem.forEach((c, i) => parseCertificate(c, `chain certificate ${i + 1}`));
  const key = parseKey(data.privateKeyPem);
  if (key.type !== 'private' || !leaf.checkPrivateKey(key)) {
    throw new CertFleetError('CF_VALIDATION', 'manual-package: the private key does not belong to the certificate');
  }
  const certPem = withNewline(leaf.toString());
  const chainPem = data.chainPem.map((c) => withNewline(new X509Certificate(c).toString())).join('');
  const encryptedKey = key
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: data.password })
    .toString();
  const p12 = createPkcs12({
    certificatePem: certPem,
    chainPem: data.chainPem,
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    password: data.password,
    friendlyName: data.commonName.slice(0, 200),
  });
  const readme = manualPackageReadme({
    commonName: data.commonName,
    serverType: data.serverType,
    leaf,
    chainLength: data.chainPem.length,
  });
  const mtime = data.createdAt ?? ZIP_EPOCH;
  // Unix mode in the external attributes (os 3 = Unix): unzip restores 0600 for the protected files
  const entry = (content: string | Buffer, mode: number, level: ZipOptions['level'] = 6): Zippable[string] => [
    typeof content === 'string' ? Buffer.from(content, 'utf8') : content,
    { level, mtime, os: 3, attrs: ((0o100000 | mode) << 16) >>> 0 },
  ];
  const files: Record<(typeof MANUAL_PACKAGE_FILES)[number], Zippable[string]> = {
    'README.txt': entry(readme, 0o644),
    'cert.pem': entry(certPem, 0o644),
    'chain.pem': entry(chainPem, 0o644),
    'fullchain.pem': entry(certPem + chainPem, 0o644),
    'key.pem': entry(encryptedKey, 0o600),
    'certificate.p12': entry(p12, 0o600, 0), // encrypted: stored, not deflated
  };
  return Buffer.from(zipSync(files));
}
