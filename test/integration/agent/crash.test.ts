/**
 * SPEC D2, kill -9 during an install: a child process runs the executor with CERTFLEET_AGENT_CRASH_AT set and is
 * SIGKILLed at that point. Afterwards the live directory must hold entirely the old or entirely the new PEM set
 * (cert.pem and key.pem belong together), and the next normal install must succeed and leave no debris.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { OpenedBundle } from '@certfleet/shared';
import type { AgentConfig } from '../../../agent/src/config';
import { installOpenedBundle } from '../../../agent/src/installers/apply-plan';
import { CRASH_POINT_ENV } from '../../../agent/src/platform/crash-point';
import { agentConfig, issueLeaf, openedBundle, serializeOpened } from '../../_helpers/install-bundles';
import { liveCertificate, tempRoot } from './_servers';

const REPO = path.resolve(__dirname, '../../..');
const CHILD = path.join(__dirname, '_crash-child.ts');
const PEM_FILES = ['cert.pem', 'chain.pem', 'fullchain.pem', 'key.pem'];

/** Points on the success path (validate and reload succeed) … */
const SUCCESS_POINTS = [
  'lock-acquired',
  'stage-created',
  'before-write:cert.pem',
  'mid-write:key.pem',
  'after-write:key.pem',
  'after-fsync-stage',
  'after-stage-rename',
  'after-journal',
  'after-temp-link',
  'after-switch',
  'after-validate',
  'after-reload',
  'after-prune',
  'before-unlock',
];
/** … and on the rollback path (validate fails after the switch). */
const ROLLBACK_POINTS = ['before-rollback', 'after-rollback-switch', 'after-rollback-reload'];
const REPETITIONS = 3; // rep 0: first install (no previous version); reps 1, 2: replacing an installed version

let root: string;
test.before(() => {
  root = tempRoot('certfleet-crash-');
});
test.after.always(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

function retarget(opened: OpenedBundle, directory: string): OpenedBundle {
  const target = opened.manifest.target;
  if (!target) throw new Error('bundle without target');
  return { ...opened, manifest: { ...opened.manifest, target: { ...target, directory } } };
}

function pemSet(dir: string): string {
  return PEM_FILES.map((f) => fs.readFileSync(path.join(dir, f), 'hex')).join('|');
}

function runChild(job: string, point: string): Promise<{ signal: NodeJS.Signals | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, job], {
      cwd: REPO,
      env: { ...process.env, [CRASH_POINT_ENV]: point },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      resolve({ signal, stdout });
    });
  });
}

test('D2 kill -9: at every crash point the live directory is entirely old or entirely new, and the next install succeeds', async (t) => {
  const [oldLeaf, newLeaf, nextLeaf] = await Promise.all([issueLeaf(), issueLeaf(), issueLeaf()]);
  const template = { installer: 'file' as const, directory: path.join(root, 'template') };
  const oldBundle = await openedBundle(oldLeaf, { target: template, version: 1 });
  const newBundle = await openedBundle(newLeaf, { target: template, version: 2 });
  const nextBundle = await openedBundle(nextLeaf, { target: template, version: 3 });
  const ok: AgentConfig = agentConfig({
    allowedRoots: [root],
    commands: { file: { validate: ['true'], reload: ['true'] } },
  });
  const failing: AgentConfig = agentConfig({
    allowedRoots: [root],
    commands: { file: { validate: ['false'], reload: ['true'] } },
  });

  const runs = [
    ...SUCCESS_POINTS.map((p) => ({ point: p, cfg: ok })),
    ...ROLLBACK_POINTS.map((p) => ({ point: p, cfg: failing })),
  ]
    .flatMap((r) => Array.from({ length: REPETITIONS }, (_, rep) => ({ ...r, rep })))
    .map((r, i) => ({ ...r, dir: path.join(root, `run-${i}`) }));
  t.true(runs.length >= 50);
  t.true(new Set(runs.map((r) => r.point)).size >= 12);

  // Expected sets, read back from a reference install (the exact bytes an install writes).
  const ref = path.join(root, 'reference');
  fs.mkdirSync(ref);
  const sets: Record<string, string> = {};
  for (const [name, b] of [
    ['old', oldBundle],
    ['new', newBundle],
  ] as const) {
    const out = await installOpenedBundle(retarget(b, path.join(ref, name)), ok);
    t.is(out.status, 'installed');
    sets[name] = pemSet(path.join(ref, name));
  }

  const check = async (run: (typeof runs)[number]): Promise<void> => {
    const label = `${run.point} #${run.rep}`;
    fs.mkdirSync(run.dir);
    const live = path.join(run.dir, 'live');
    const hadOld = run.rep > 0;
    if (hadOld) {
      const first = await installOpenedBundle(retarget(oldBundle, live), ok);
      if (first.status !== 'installed') throw new Error(`${label}: setup install failed`);
    }
    const job = path.join(run.dir, 'job.json');
    fs.writeFileSync(job, JSON.stringify({ opened: serializeOpened(retarget(newBundle, live)), config: run.cfg }));
    const { signal, stdout } = await runChild(job, run.point);
    t.is(signal, 'SIGKILL', `${label}: crash point not reached (${stdout.trim()})`);

    if (fs.existsSync(live)) {
      const cert = liveCertificate(live);
      t.true(cert.keyMatches, `${label}: cert.pem and key.pem do not belong together`);
      t.true(cert.leafSha256 === newLeaf.leafSha256 || (hadOld && cert.leafSha256 === oldLeaf.leafSha256), label);
      const set = pemSet(live);
      t.true(set === sets.new || (hadOld && set === sets.old), `${label}: a mixed or torn PEM set`);
    } else {
      t.false(hadOld, `${label}: the previous version vanished`);
    }

    const after = await installOpenedBundle(retarget(nextBundle, live), ok);
    t.is(after.status, 'installed', `${label}: ${after.message}`);
    t.deepEqual(liveCertificate(live), { leafSha256: nextLeaf.leafSha256, keyMatches: true }, label);
    const debris = fs.readdirSync(run.dir).filter((n) => n !== 'live' && n !== '.live.versions' && n !== 'job.json');
    t.deepEqual(debris, [], `${label}: lock, journal or temp links left`);
    const versions = fs.readdirSync(path.join(run.dir, '.live.versions'));
    t.false(
      versions.some((n) => n.startsWith('.tmp-')),
      `${label}: staging directory left`
    );
    t.true(versions.length <= 3, label);
  };

  const CONCURRENCY = 4;
  for (let i = 0; i < runs.length; i += CONCURRENCY) {
    await Promise.all(runs.slice(i, i + CONCURRENCY).map(check));
  }
});
