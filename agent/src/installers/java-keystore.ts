/**
 * Installer `java-keystore`: Java servers (Tomcat, Jetty, Spring Boot, Kafka …) that read a keystore.
 *
 * Writes the PEM set and `keystore.p12` (0600): a PKCS#12 built in-process (PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256,
 * HMAC-SHA-256 MAC) holding one key entry named `target.keystore.alias` (default `certfleet`) with its chain. With
 * `target.keystore.format: 'jks'` it also runs `keytool -importkeystore` in the staging directory to write
 * `keystore.jks` (0600); keytool reads the password from the password file (`-srcstorepass:file`), never from argv.
 *
 * The password is the first line of the agent config's `keystorePasswordFile` (never part of a bundle).
 * Commands (`commands.java-keystore`): no validation preset; reload only when configured (e.g.
 * `["systemctl","restart","tomcat10"]`). Hook: `restart-tomcat`.
 */
import { X509Certificate } from 'node:crypto';
import { CertFleetError, decodePem } from '@certfleet/shared';
import type { InstallerDefinition, InstallPlan } from './installer';
import { resolveCommands } from './installer';
import { pemSetOf } from './pem-files';
import { writePkcs12 } from './pkcs12-writer';

export const PKCS12_FILE = 'keystore.p12';
export const JKS_FILE = 'keystore.jks';
export const DEFAULT_KEYSTORE_ALIAS = 'certfleet';

function certificatesDer(pem: Buffer): Buffer[] {
  return decodePem(pem.toString('utf8'))
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => Buffer.from(b.der));
}

export const javaKeystore: InstallerDefinition = {
  type: 'java-keystore',
  title: 'Java keystore (PKCS#12 / JKS)',
  hooks: ['restart-tomcat'],
  plan(opened, ctx) {
    const pem = pemSetOf(opened, 'java-keystore');
    const password = ctx.keystorePassword;
    if (!password) {
      throw new CertFleetError(
        'CF_VALIDATION',
        'installer(java-keystore): keystorePasswordFile is not configured, unreadable or empty'
      );
    }
    const format = ctx.target.keystore?.format ?? 'pkcs12';
    const alias = ctx.target.keystore?.alias ?? DEFAULT_KEYSTORE_ALIAS;
    let p12: Buffer;
    try {
      const leaf = new X509Certificate(pem.cert).raw;
      const chain = certificatesDer(pem.chain).filter((c) => !c.equals(leaf));
      p12 = writePkcs12({ certificates: [leaf, ...chain], privateKeyPem: pem.key, password, alias });
    } catch (cause) {
      throw new CertFleetError('CF_VALIDATION', `installer(java-keystore): cannot build the keystore`, { cause });
    }
    const plan: InstallPlan = {
      files: [...pem.files, { name: PKCS12_FILE, contents: p12, mode: 0o600 }],
      ...resolveCommands({}, ctx.commands),
    };
    if (format === 'jks') {
      if (!ctx.keystorePasswordFile) {
        throw new CertFleetError('CF_VALIDATION', 'installer(java-keystore): jks needs keystorePasswordFile');
      }
      plan.prepare = [
        {
          command: [
            'keytool',
            '-importkeystore',
            '-noprompt',
            '-srckeystore',
            PKCS12_FILE,
            '-srcstoretype',
            'PKCS12',
            '-srcstorepass:file',
            ctx.keystorePasswordFile,
            '-destkeystore',
            JKS_FILE,
            '-deststoretype',
            'JKS',
            '-deststorepass:file',
            ctx.keystorePasswordFile,
          ],
          produces: [{ name: JKS_FILE, mode: 0o600 }],
        },
      ];
    }
    return plan;
  },
};
