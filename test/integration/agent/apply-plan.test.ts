import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { InstallTarget } from '@certfleet/shared';
import { installOpenedBundle } from '../../../agent/src/installers/apply-plan';
import { agentConfig, issueLeaf, openedBundle } from '../../_helpers/install-bundles';
import { liveCertificate, tempRoot } from './_servers';

const roots: string[] = [];
function root(): string {
  const r = tempRoot('certfleet-apply-');
  roots.push(r);
  return r;
}
test.after.always(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

function fileTarget(directory: string, extra: Partial<InstallTarget> = {}): InstallTarget {
  return { installer: 'file', directory, ...extra };
}

test('D2 install: the live directory becomes a symlink to a versioned directory; key 0600, certs 0644', async (t) => {
  const r = root();
  const leaf = await issueLeaf();
  const opened = await openedBundle(leaf, { target: fileTarget(`${r}/shop`), version: 7 });
  const out = await installOpenedBundle(opened, agentConfig({ allowedRoots: [r] }));
  t.is(out.status, 'installed');
  t.is(out.reason, 'Installed');
  t.false(out.verified); // no probe configured
  const link = fs.readlinkSync(`${r}/shop`);
  t.is(link, `.shop.versions/7-${opened.manifest.bundleId.slice(0, 8)}`);
  t.is(out.versionDirectory, path.join(r, link));
  t.is(fs.statSync(`${r}/shop/key.pem`).mode & 0o777, 0o600);
  t.is(fs.statSync(`${r}/shop/cert.pem`).mode & 0o777, 0o644);
  t.is(fs.statSync(`${r}/shop/fullchain.pem`).mode & 0o777, 0o644);
  t.deepEqual(liveCertificate(`${r}/shop`), { leafSha256: leaf.leafSha256, keyMatches: true });
  t.deepEqual(fs.readdirSync(r).sort(), ['.shop.versions', 'shop']); // no lock, journal or temp link left
});

test('D2 install: directories outside the allowed roots are refused, also via a symlinked parent', async (t) => {
  const allowed = root();
  const outside = root();
  const leaf = await issueLeaf();
  const cfg = agentConfig({ allowedRoots: [allowed] });
  const direct = await installOpenedBundle(await openedBundle(leaf, { target: fileTarget(`${outside}/x`) }), cfg);
  t.is(direct.reason, 'InstallTargetNotAllowed');
  t.is(direct.status, 'failed');
  fs.symlinkSync(outside, `${allowed}/escape`);
  const viaLink = await installOpenedBundle(
    await openedBundle(leaf, { target: fileTarget(`${allowed}/escape/x`) }),
    cfg
  );
  t.is(viaLink.reason, 'InstallTargetNotAllowed');
  const noParent = await installOpenedBundle(
    await openedBundle(leaf, { target: fileTarget(`${allowed}/missing/x`) }),
    cfg
  );
  t.is(noParent.reason, 'InstallTargetNotAllowed');
  t.deepEqual(fs.readdirSync(outside), []);
});

test('D2 install: an operator directory, file or foreign symlink at the live path is never clobbered', async (t) => {
  const r = root();
  const leaf = await issueLeaf();
  const cfg = agentConfig({ allowedRoots: [r] });
  fs.mkdirSync(`${r}/real`);
  fs.writeFileSync(`${r}/real/cert.pem`, 'operator file');
  fs.writeFileSync(`${r}/plain`, 'operator file');
  fs.symlinkSync('/etc', `${r}/foreign`);
  for (const name of ['real', 'plain', 'foreign']) {
    const out = await installOpenedBundle(await openedBundle(leaf, { target: fileTarget(`${r}/${name}`) }), cfg);
    t.is(out.reason, 'InstallTargetNotSymlink', name);
    t.false(fs.existsSync(`${r}/.${name}.versions`), name);
  }
  t.is(fs.readFileSync(`${r}/real/cert.pem`, 'utf8'), 'operator file');
  t.is(fs.readlinkSync(`${r}/foreign`), '/etc');
});

test('D2 install: manifest hooks must be known to the installer, checked before any write', async (t) => {
  const r = root();
  const leaf = await issueLeaf();
  const cfg = agentConfig({ allowedRoots: [r] });
  const wrong = await openedBundle(leaf, {
    target: { installer: 'nginx', directory: `${r}/web` },
    hooks: ['reload-nginx', 'restart-tomcat'],
  });
  const out = await installOpenedBundle(wrong, cfg);
  t.is(out.reason, 'InstallHookNotAllowed');
  t.regex(out.message, /restart-tomcat/);
  t.deepEqual(fs.readdirSync(r), []);
  const fileWithHook = await openedBundle(leaf, { target: fileTarget(`${r}/f`), hooks: ['reload-nginx'] });
  t.is((await installOpenedBundle(fileWithHook, cfg)).reason, 'InstallHookNotAllowed');
});

test('D2 install: an idempotent bundle installs nothing (AlreadyInstalled)', async (t) => {
  const r = root();
  const opened = await openedBundle(await issueLeaf(), { target: fileTarget(`${r}/x`) });
  const out = await installOpenedBundle({ ...opened, idempotent: true }, agentConfig({ allowedRoots: [r] }));
  t.is(out.status, 'installed');
  t.is(out.reason, 'AlreadyInstalled');
  t.deepEqual(fs.readdirSync(r), []);
});

test('D2 install: a failing validate on a first install removes the link again (rolled back)', async (t) => {
  const r = root();
  const opened = await openedBundle(await issueLeaf(), { target: fileTarget(`${r}/x`) });
  const cfg = agentConfig({
    allowedRoots: [r],
    commands: { file: { validate: [process.execPath, '-e', 'console.error("bad config line 3"); process.exit(1)'] } },
  });
  const out = await installOpenedBundle(opened, cfg);
  t.is(out.status, 'failed');
  t.is(out.reason, 'InstallValidateFailed');
  t.true(out.rolledBack);
  t.regex(out.stderrTail ?? '', /bad config line 3/);
  t.false(fs.existsSync(`${r}/x`));
  t.deepEqual(fs.readdirSync(`${r}/.x.versions`), []);
});

test('D2 install: reload failure and probe mismatch/failure restore the previous version', async (t) => {
  const r = root();
  const v1 = await issueLeaf();
  const v2 = await issueLeaf();
  const okCfg = agentConfig({ allowedRoots: [r], probeTimeoutMs: 600 });
  const first = await installOpenedBundle(await openedBundle(v1, { target: fileTarget(`${r}/x`), version: 1 }), okCfg);
  t.is(first.status, 'installed');
  const before = fs.readlinkSync(`${r}/x`);

  const failingReload = agentConfig({
    allowedRoots: [r],
    commands: { file: { reload: ['sh', '-c', 'echo reload exploded >&2; exit 4'] } },
  });
  const reload = await installOpenedBundle(
    await openedBundle(v2, { target: fileTarget(`${r}/x`), version: 2 }),
    failingReload
  );
  t.is(reload.reason, 'InstallReloadFailed');
  t.true(reload.rolledBack);
  t.regex(reload.stderrTail ?? '', /reload exploded/);
  t.is(fs.readlinkSync(`${r}/x`), before);
  t.is(liveCertificate(`${r}/x`).leafSha256, v1.leafSha256);

  const probed = fileTarget(`${r}/x`, { probe: { host: '127.0.0.1', port: 9 } });
  const mismatch = await installOpenedBundle(await openedBundle(v2, { target: probed, version: 2 }), okCfg, {
    probe: () => Promise.resolve({ ok: true, sha256: v1.leafSha256, notAfter: '', subject: '' }),
    probeIntervalMs: 50,
  });
  t.is(mismatch.reason, 'InstallProbeMismatch');
  t.is(mismatch.servedSha256, v1.leafSha256);
  t.true(mismatch.rolledBack);
  t.is(fs.readlinkSync(`${r}/x`), before);

  const unreachable = await installOpenedBundle(await openedBundle(v2, { target: probed, version: 2 }), okCfg, {
    probe: () => Promise.resolve({ ok: false, message: 'connect ECONNREFUSED' }),
    probeIntervalMs: 50,
  });
  t.is(unreachable.reason, 'InstallProbeFailed');
  t.true(unreachable.rolledBack);
  t.is(liveCertificate(`${r}/x`).leafSha256, v1.leafSha256);

  let calls = 0;
  const eventually = await installOpenedBundle(await openedBundle(v2, { target: probed, version: 2 }), okCfg, {
    probe: () => {
      calls++;
      return Promise.resolve({
        ok: true,
        sha256: calls < 3 ? v1.leafSha256 : v2.leafSha256,
        notAfter: '',
        subject: '',
      });
    },
    probeIntervalMs: 20,
  });
  t.is(eventually.reason, 'Installed');
  t.true(eventually.verified);
  t.is(eventually.servedSha256, v2.leafSha256);
  t.is(liveCertificate(`${r}/x`).leafSha256, v2.leafSha256);
});

test('D2 install: the last 3 version directories are kept', async (t) => {
  const r = root();
  const cfg = agentConfig({ allowedRoots: [r] });
  const leaf = await issueLeaf();
  let last = '';
  for (let v = 1; v <= 5; v++) {
    const out = await installOpenedBundle(await openedBundle(leaf, { target: fileTarget(`${r}/x`), version: v }), cfg);
    t.is(out.status, 'installed');
    last = path.basename(out.versionDirectory ?? '');
    await new Promise((res) => setTimeout(res, 15)); // distinct mtimes
  }
  const kept = fs.readdirSync(`${r}/.x.versions`).sort();
  t.is(kept.length, 3);
  t.true(kept.includes(last));
  t.deepEqual(
    kept.map((n) => Number(n.split('-')[0])),
    [3, 4, 5]
  );
});

test('D2 install: concurrent installs into one directory are serialised; a dead holder’s lock is taken over', async (t) => {
  const r = root();
  const cfg = agentConfig({ allowedRoots: [r], commands: { file: { reload: ['sleep', '0.2'] } } });
  fs.writeFileSync(`${r}/.x.lock`, '2147483646\n'); // a pid that cannot be alive: left by a killed agent
  const [a, b] = await Promise.all([
    installOpenedBundle(await openedBundle(await issueLeaf(), { target: fileTarget(`${r}/x`), version: 1 }), cfg),
    installOpenedBundle(await openedBundle(await issueLeaf(), { target: fileTarget(`${r}/x`), version: 2 }), cfg),
  ]);
  t.is(a.status, 'installed');
  t.is(b.status, 'installed');
  t.true(liveCertificate(`${r}/x`).keyMatches);
  t.false(fs.existsSync(`${r}/.x.lock`));
  t.is(fs.readdirSync(`${r}/.x.versions`).length, 2);
});

test('D2 install: a lock left by an earlier incarnation with our own pid is stale (container restarts)', async (t) => {
  const r = root();
  fs.writeFileSync(`${r}/.x.lock`, `${process.pid}\n`);
  const out = await installOpenedBundle(
    await openedBundle(await issueLeaf(), { target: fileTarget(`${r}/x`) }),
    agentConfig({ allowedRoots: [r] }),
    { lockTimeoutMs: 1000 }
  );
  t.is(out.status, 'installed', out.message);
  t.false(fs.existsSync(`${r}/.x.lock`));
});

test('D2 install: a lock held by a live process makes the install wait, then fail InstallLocked', async (t) => {
  const r = root();
  fs.writeFileSync(`${r}/.x.lock`, `${process.ppid}\n`); // our parent (the ava runner) is alive
  const started = Date.now();
  const out = await installOpenedBundle(
    await openedBundle(await issueLeaf(), { target: fileTarget(`${r}/x`) }),
    agentConfig({ allowedRoots: [r] }),
    { lockTimeoutMs: 300 }
  );
  t.is(out.reason, 'InstallLocked');
  t.true(Date.now() - started >= 300);
  t.false(fs.existsSync(`${r}/x`));
  t.is(fs.readFileSync(`${r}/.x.lock`, 'utf8'), `${process.ppid}\n`);
});
