/**
 * The four PEM-file installers (nginx, apache, postfix, dovecot) share one plan shape and differ only in their
 * preset commands and hook; each is checked with the same cases (SPEC D2).
 */
import test from 'ava';
import { apache } from '../../../../agent/src/installers/apache';
import { dovecot } from '../../../../agent/src/installers/dovecot';
import type { InstallerDefinition } from '../../../../agent/src/installers/installer';
import { nginx } from '../../../../agent/src/installers/nginx';
import { postfix } from '../../../../agent/src/installers/postfix';
import { ctxFor, planFixture } from './_plan';

const PRESETS: Array<{ def: InstallerDefinition; validate: string[]; reload: string[]; hook: string }> = [
  { def: nginx, validate: ['nginx', '-t'], reload: ['systemctl', 'reload', 'nginx'], hook: 'reload-nginx' },
  { def: apache, validate: ['apachectl', 'configtest'], reload: ['apachectl', 'graceful'], hook: 'reload-apache' },
  { def: postfix, validate: ['postfix', 'check'], reload: ['postfix', 'reload'], hook: 'reload-postfix' },
  { def: dovecot, validate: ['doveconf', '-n'], reload: ['doveadm', 'reload'], hook: 'reload-dovecot' },
];

for (const { def, validate, reload, hook } of PRESETS) {
  const type = def.type as 'nginx' | 'apache' | 'postfix' | 'dovecot';

  test(`D2 ${type}: plan writes cert, chain, fullchain and key (0600) from the bundle`, async (t) => {
    const { opened, material } = await planFixture(type);
    const plan = def.plan(opened, ctxFor(opened));
    const byName = new Map(plan.files.map((f) => [f.name, f]));
    t.deepEqual([...byName.keys()].sort(), ['cert.pem', 'chain.pem', 'fullchain.pem', 'key.pem'].sort());
    t.deepEqual(byName.get('cert.pem')?.contents, material.certPem);
    t.deepEqual(byName.get('chain.pem')?.contents, material.chainPem);
    t.deepEqual(byName.get('fullchain.pem')?.contents, material.fullchainPem);
    t.deepEqual(byName.get('key.pem')?.contents, material.keyPem);
    t.is(byName.get('key.pem')?.mode, 0o600);
    t.is(byName.get('cert.pem')?.mode, 0o644);
  });

  test(`D2 ${type}: preset validate and reload commands`, async (t) => {
    const { opened } = await planFixture(type);
    const plan = def.plan(opened, ctxFor(opened));
    t.deepEqual(plan.validate, validate);
    t.deepEqual(plan.reload, reload);
    t.deepEqual(def.hooks, [hook]);
    t.is(def.type, type);
  });

  test(`D2 ${type}: config.commands override the presets (empty validate = none)`, async (t) => {
    const { opened } = await planFixture(type);
    const plan = def.plan(
      opened,
      ctxFor(opened, { commands: { validate: [], reload: ['/usr/local/bin/reload-it', '--now'] } })
    );
    t.is(plan.validate, undefined);
    t.deepEqual(plan.reload, ['/usr/local/bin/reload-it', '--now']);
    const onlyValidate = def.plan(opened, ctxFor(opened, { commands: { validate: ['check-it'] } }));
    t.deepEqual(onlyValidate.validate, ['check-it']);
    t.deepEqual(onlyValidate.reload, reload);
  });
}
