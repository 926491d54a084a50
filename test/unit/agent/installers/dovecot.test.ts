import test from 'ava';
import { dovecot } from '../../../../agent/src/installers/dovecot';
import { ctxFor, planFixture } from './_plan';

test('D2 dovecot: plan writes cert, chain, fullchain and key (0600) from the bundle', async (t) => {
  const { opened, material } = await planFixture('dovecot');
  const plan = dovecot.plan(opened, ctxFor(opened));
  const byName = new Map(plan.files.map((f) => [f.name, f]));
  t.deepEqual([...byName.keys()].sort(), ['cert.pem', 'chain.pem', 'fullchain.pem', 'key.pem'].sort());
  t.deepEqual(byName.get('cert.pem')?.contents, material.certPem);
  t.deepEqual(byName.get('chain.pem')?.contents, material.chainPem);
  t.deepEqual(byName.get('fullchain.pem')?.contents, material.fullchainPem);
  t.deepEqual(byName.get('key.pem')?.contents, material.keyPem);
  t.is(byName.get('key.pem')?.mode, 0o600);
  t.is(byName.get('cert.pem')?.mode, 0o644);
});

test('D2 dovecot: preset validate and reload commands', async (t) => {
  const { opened } = await planFixture('dovecot');
  const plan = dovecot.plan(opened, ctxFor(opened));
  t.deepEqual(plan.validate, ['doveconf', '-n']);
  t.deepEqual(plan.reload, ['doveadm', 'reload']);
  t.deepEqual(dovecot.hooks, ['reload-dovecot']);
  t.is(dovecot.type, 'dovecot');
});

test('D2 dovecot: config.commands override the presets (empty validate = none)', async (t) => {
  const { opened } = await planFixture('dovecot');
  const plan = dovecot.plan(
    opened,
    ctxFor(opened, { commands: { validate: [], reload: ['/usr/local/bin/reload-it', '--now'] } })
  );
  t.is(plan.validate, undefined);
  t.deepEqual(plan.reload, ['/usr/local/bin/reload-it', '--now']);
  const onlyValidate = dovecot.plan(opened, ctxFor(opened, { commands: { validate: ['check-it'] } }));
  t.deepEqual(onlyValidate.validate, ['check-it']);
  t.deepEqual(onlyValidate.reload, ['doveadm', 'reload']);
});
