/**
 * D2 install on a full disk: the versioned directory is written on a small tmpfs that the test fills, so the write
 * fails part-way (ENOSPC). The install must fail as InstallWriteFailed, keep the previous version live (cert and
 * key still a pair), and leave no partial version directory, journal, lock or temporary link behind. Needs root (mount).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import anyTest from 'ava';
import type { InstallTarget } from '@certfleet/shared';
import { installOpenedBundle } from '../../../agent/src/installers/apply-plan';
import { agentConfig, issueLeaf, openedBundle } from '../../_helpers/install-bundles';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { liveCertificate, tempRoot } from './_servers';

const canMount = typeof process.getuid === 'function' && process.getuid() === 0;
if (!canMount && !isCI) process.stderr.write('skipping the disk-full install test: mounting a tmpfs needs root\n');
// Not root on a laptop: skipped with the reason above; under CI it runs and fails on the first mount.
const test = canMount || isCI ? testNeeding(['mount', 'umount']) : (anyTest.skip as unknown as typeof anyTest);

const mounts: string[] = [];
test.after.always(() => {
  for (const m of mounts) {
    try {
      execFileSync('umount', [m], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
    fs.rmSync(path.dirname(m), { recursive: true, force: true });
  }
});

/** Fills the file system of `dir` up to its last `leaveBytes` (bounded: at most 64 MiB written). */
function fill(dir: string, leaveBytes: number): number {
  const filler = path.join(dir, 'filler.bin');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(4096, 0x5a);
  let written = 0;
  try {
    for (let i = 0; i < 16_384; i++) {
      const { bavail, bsize } = fs.statfsSync(dir);
      if (bavail * bsize <= leaveBytes) break;
      try {
        written += fs.writeSync(fd, chunk);
      } catch {
        break;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return written;
}

test('D2 install on a full disk: InstallWriteFailed, the previous version stays live, nothing partial is left', async (t) => {
  assertCommands(['mount', 'umount']);
  t.true(canMount, 'mounting a tmpfs needs root');
  const r = tempRoot('certfleet-diskfull-');
  const mnt = path.join(r, 'srv');
  fs.mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0755', 'tmpfs', mnt]);
  mounts.push(mnt);
  const target: InstallTarget = { installer: 'file', directory: `${mnt}/shop` };
  const cfg = agentConfig({ allowedRoots: [mnt] });

  const v1 = await issueLeaf();
  const first = await installOpenedBundle(await openedBundle(v1, { target, version: 1 }), cfg);
  t.is(first.status, 'installed', first.reason);

  // One page left: the first file of the new version fits, the next does not.
  const filled = fill(mnt, 4096);
  t.true(filled > 0, 'the tmpfs was filled');
  const v2 = await issueLeaf();
  const second = await installOpenedBundle(await openedBundle(v2, { target, version: 2 }), cfg);
  t.is(second.status, 'failed');
  t.is(second.reason, 'InstallWriteFailed');
  t.regex(second.message, /ENOSPC|no space/i);

  t.deepEqual(liveCertificate(`${mnt}/shop`), { leafSha256: v1.leafSha256, keyMatches: true }, 'v1 still live');
  const versions = fs.readdirSync(`${mnt}/.shop.versions`);
  t.deepEqual(versions, [path.basename(fs.readlinkSync(`${mnt}/shop`))], 'no partial version directory');
  t.deepEqual(fs.readdirSync(mnt).sort(), ['.shop.versions', 'filler.bin', 'shop'], 'no lock, journal or temp link');

  // Space back: the same bundle installs.
  fs.rmSync(path.join(mnt, 'filler.bin'));
  const retry = await installOpenedBundle(await openedBundle(v2, { target, version: 2 }), cfg);
  t.is(retry.status, 'installed', retry.reason);
  t.deepEqual(liveCertificate(`${mnt}/shop`), { leafSha256: v2.leafSha256, keyMatches: true });
});
