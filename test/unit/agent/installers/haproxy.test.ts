import test from 'ava';
import { haproxy } from '../../../../agent/src/installers/haproxy';
import { ctxFor, planFixture } from './_plan';

test('D2 haproxy: plan writes cert, chain, fullchain and key (0600) from the bundle', async (t) => {
  const { opened, material } = await planFixture('haproxy');
  const plan = haproxy.plan(opened, ctxFor(opened));
  const byName = new Map(plan.files.map((f) => [f.name, f]));
  t.deepEqual([...byName.keys()].sort(), ['haproxy.pem', 'cert.pem', 'chain.pem', 'fullchain.pem', 'key.pem'].sort());
  t.deepEqual(byName.get('cert.pem')?.contents, material.certPem);
  t.deepEqual(byName.get('chain.pem')?.contents, material.chainPem);
  t.deepEqual(byName.get('fullchain.pem')?.contents, material.fullchainPem);
  t.deepEqual(byName.get('key.pem')?.contents, material.keyPem);
  t.is(byName.get('key.pem')?.mode, 0o600);
  t.is(byName.get('cert.pem')?.mode, 0o644);
});

test('D2 haproxy: preset validate and reload commands', async (t) => {
  const { opened } = await planFixture('haproxy');
  const plan = haproxy.plan(opened, ctxFor(opened));
  t.deepEqual(plan.validate, ['haproxy', '-c', '-f', '/etc/haproxy/haproxy.cfg']);
  t.deepEqual(plan.reload, ['systemctl', 'reload', 'haproxy']);
  t.deepEqual(haproxy.hooks, ['reload-haproxy']);
  t.is(haproxy.type, 'haproxy');
});

test('D2 haproxy: config.commands override the presets (empty validate = none)', async (t) => {
  const { opened } = await planFixture('haproxy');
  const plan = haproxy.plan(
    opened,
    ctxFor(opened, { commands: { validate: [], reload: ['/usr/local/bin/reload-it', '--now'] } })
  );
  t.is(plan.validate, undefined);
  t.deepEqual(plan.reload, ['/usr/local/bin/reload-it', '--now']);
  const onlyValidate = haproxy.plan(opened, ctxFor(opened, { commands: { validate: ['check-it'] } }));
  t.deepEqual(onlyValidate.validate, ['check-it']);
  t.deepEqual(onlyValidate.reload, ['systemctl', 'reload', 'haproxy']);
});

test('D2 haproxy: haproxy.pem is the key followed by the full chain, mode 0600', async (t) => {
  const { opened, material } = await planFixture('haproxy');
  const combined = haproxy.plan(opened, ctxFor(opened)).files.find((f) => f.name === 'haproxy.pem');
  t.is(combined?.mode, 0o600);
  t.deepEqual(combined?.contents, Buffer.concat([material.keyPem, material.fullchainPem]));
  const text = combined?.contents.toString() ?? '';
  t.true(text.indexOf('PRIVATE KEY') < text.indexOf('CERTIFICATE'));
  t.is((text.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
});
