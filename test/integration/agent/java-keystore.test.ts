/**
 * SPEC D2, java-keystore installer: the in-process PKCS#12 and the keytool-converted JKS open in the JDK's own
 * keytool with the password from the agent's password file, holding the bundle's leaf under the alias.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { installOpenedBundle } from '../../../agent/src/installers/apply-plan';
import { agentConfig, issueLeaf, openedBundle } from '../../_helpers/install-bundles';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { tempRoot } from './_servers';

const run = promisify(execFile);
const test = testNeeding(['keytool']);
const roots: string[] = [];
test.after.always(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

function colonHex(hex: string): string {
  return hex.toUpperCase().match(/../g)?.join(':') ?? '';
}

async function keytoolList(store: string, type: string, passwordFile: string): Promise<string> {
  const { stdout } = await run(
    'keytool',
    [
      '-J-XX:TieredStopAtLevel=1',
      '-J-XX:+UseSerialGC',
      '-list',
      '-v',
      '-keystore',
      store,
      '-storetype',
      type,
      '-storepass:file',
      passwordFile,
    ],
    { encoding: 'utf8' }
  );
  return stdout;
}

test('D2 java-keystore: PKCS#12 and JKS keystores open in keytool with the configured password and alias', async (t) => {
  if (process.env.CI === 'true' || process.env.CI === '1') assertCommands(['keytool']);
  const r = tempRoot('certfleet-jks-');
  roots.push(r);
  const passwordFile = path.join(r, 'keystore.pass');
  fs.writeFileSync(passwordFile, 'changeit-Strong-42\n', { mode: 0o600 });
  fs.mkdirSync(path.join(r, 'certs'));
  const leaf = await issueLeaf('tomcat.example.test');
  const live = path.join(r, 'certs', 'tomcat');
  const opened = await openedBundle(leaf, {
    target: { installer: 'java-keystore', directory: live, keystore: { format: 'jks', alias: 'tomcat' } },
    hooks: ['restart-tomcat'],
  });
  const cfg = agentConfig({ allowedRoots: [path.join(r, 'certs')], keystorePasswordFile: passwordFile });
  const out = await installOpenedBundle(opened, cfg);
  t.is(out.status, 'installed', `${out.message} ${out.stderrTail ?? ''}`);
  for (const f of ['keystore.p12', 'keystore.jks', 'key.pem']) {
    t.is(fs.statSync(path.join(live, f)).mode & 0o777, 0o600, f);
  }
  const [p12, jks] = await Promise.all([
    keytoolList(path.join(live, 'keystore.p12'), 'PKCS12', passwordFile),
    keytoolList(path.join(live, 'keystore.jks'), 'JKS', passwordFile),
  ]);
  for (const listing of [p12, jks]) {
    t.regex(listing, /Alias name: tomcat/);
    t.regex(listing, /PrivateKeyEntry/);
    t.true(listing.includes(colonHex(leaf.leafSha256)), 'leaf SHA-256 listed');
  }

  // Without a password file the install is refused before anything is written.
  const noPassword = await installOpenedBundle(
    await openedBundle(leaf, { target: { installer: 'java-keystore', directory: path.join(r, 'certs', 'other') } }),
    agentConfig({ allowedRoots: [path.join(r, 'certs')] })
  );
  t.is(noPassword.reason, 'InstallPlanInvalid');
  t.false(fs.existsSync(path.join(r, 'certs', '.other.versions')));
});
