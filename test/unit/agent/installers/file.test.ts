import test from 'ava';
import { file } from '../../../../agent/src/installers/file';
import { ctxFor, planFixture } from './_plan';

test('D2 file: PEM set only, no commands unless configured, knows no hooks', async (t) => {
  const { opened } = await planFixture('file');
  const plan = file.plan(opened, ctxFor(opened));
  t.deepEqual(plan.files.map((f) => f.name).sort(), ['cert.pem', 'chain.pem', 'fullchain.pem', 'key.pem']);
  t.is(plan.validate, undefined);
  t.is(plan.reload, undefined);
  t.deepEqual(file.hooks, []);
});

test('D2 file: configured validate and reload are used as argv', async (t) => {
  const { opened } = await planFixture('file');
  const plan = file.plan(
    opened,
    ctxFor(opened, { commands: { validate: ['/opt/app/check', '--strict'], reload: ['systemctl', 'restart', 'app'] } })
  );
  t.deepEqual(plan.validate, ['/opt/app/check', '--strict']);
  t.deepEqual(plan.reload, ['systemctl', 'restart', 'app']);
});

test('D2 file: a bundle with only cert.pem and key.pem gets an empty chain.pem and fullchain = leaf', async (t) => {
  const { minimal, material } = await planFixture('file');
  const byName = new Map(file.plan(minimal, ctxFor(minimal)).files.map((f) => [f.name, f.contents]));
  t.is(byName.get('chain.pem')?.length, 0);
  t.deepEqual(byName.get('fullchain.pem'), material.certPem);
});

test('D2 file: a bundle without key.pem is refused with CF_VALIDATION', async (t) => {
  const { opened } = await planFixture('file');
  const noKey = { ...opened, files: new Map([...opened.files].filter(([p]) => p !== 'key.pem')) };
  const err = t.throws(() => file.plan(noKey, ctxFor(noKey)));
  t.is((err as { code?: string }).code, 'CF_VALIDATION');
  t.regex(err?.message ?? '', /installer\(file\): .*key\.pem/);
});
