import test from 'ava';
import { INSTALLER_TYPES, BUNDLE_HOOKS } from '@certfleet/shared';
import { installerFor, installers } from '../../../../agent/src/installers/registry';

test('D2 registry: one installer per INSTALLER_TYPES slug, in an explicit list', (t) => {
  t.deepEqual(installers.map((i) => i.type).sort(), [...INSTALLER_TYPES].sort());
  for (const type of INSTALLER_TYPES) t.is(installerFor(type)?.type, type);
});

test('D2 registry: every bundle hook belongs to exactly one installer', (t) => {
  for (const hook of BUNDLE_HOOKS) {
    t.is(installers.filter((i) => i.hooks.includes(hook)).length, 1, hook);
  }
});
