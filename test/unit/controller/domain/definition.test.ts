import test from 'ava';
import {
  cloneDefinitionInput,
  definitionInputSchema,
  definitionProblems,
  isDnsName,
} from '../../../../controller/src/domain/definition';
import { sansFromStrings, subjectFromDn } from '../../../../controller/src/domain/subject';

test('R1 DNS name rules: wildcard only as the whole left label', (t) => {
  for (const ok of ['example.com', 'a-b.example.com', '*.example.com', 'intranet']) t.true(isDnsName(ok), ok);
  for (const bad of [
    '',
    '-a.example.com',
    'a_b.example.com',
    '*.com',
    'a.*.example.com',
    'ex ample.com',
    'x'.repeat(64) + '.com',
  ])
    t.false(isDnsName(bad), bad);
});

test('R1 definition defaults and cross-field checks', (t) => {
  const d = definitionInputSchema.parse({
    name: 'n',
    subject: { commonName: 'www.example.com' },
    sans: [{ type: 'dns', value: 'example.com' }],
  });
  t.is(d.keySpec, 'EC-P256');
  t.is(d.renewalLeadDays, 60);
  t.deepEqual(definitionProblems(d), ['subject.commonName www.example.com is not among the DNS SANs']);
  const dup = {
    ...d,
    sans: [
      { type: 'dns' as const, value: 'www.example.com' },
      { type: 'dns' as const, value: 'WWW.example.com' },
    ],
  };
  t.deepEqual(definitionProblems(dup), ['duplicate SAN dns:www.example.com']);
});

test('R1 clone keeps the requirement and takes the new name', (t) => {
  const base = definitionInputSchema.parse({
    name: 'prod',
    subject: { commonName: 'a.example.com' },
    deployTargets: [{ serverName: 's', serverType: 'nginx' }],
  });
  const src = { ...base, id: 'x', clonedFromId: null, createdAt: new Date(), updatedAt: new Date() };
  const clone = cloneDefinitionInput(src, 'test');
  t.is(clone.name, 'test');
  t.deepEqual(clone.deployTargets, base.deployTargets);
  t.not(clone.deployTargets, base.deployTargets, 'deep copy');
  t.false('id' in clone);
});

test('I2 subject and SANs from a certificate summary', (t) => {
  t.deepEqual(subjectFromDn('CN=www.example.com, O=Example\\, Inc., C=JP'), {
    commonName: 'www.example.com',
    organization: 'Example, Inc.',
    country: 'JP',
  });
  t.deepEqual(sansFromStrings(['DNS:a.example.com', 'IP:10.0.0.1', 'email:x@example.com', 'othername:foo']), [
    { type: 'dns', value: 'a.example.com' },
    { type: 'ip', value: '10.0.0.1' },
    { type: 'email', value: 'x@example.com' },
  ]);
});

test('D1 an agent deploy target without agent or directory is refused at the missing field paths', (t) => {
  const base = { name: 'x', subject: { commonName: 'x.example.test' } };
  const r = definitionInputSchema.safeParse({
    ...base,
    deployTargets: [{ serverName: 'web', serverType: 'nginx', method: 'agent' }],
  });
  t.false(r.success);
  t.deepEqual(r.error?.issues.map((i) => i.path.join('.')).sort(), [
    'deployTargets.0.agentId',
    'deployTargets.0.directory',
  ]);
  const noDir = definitionInputSchema.safeParse({
    ...base,
    deployTargets: [
      { serverName: 'web', serverType: 'nginx', method: 'agent', agentId: '8f0b1a4e-5c1d-4a8e-9a57-3b1f7f0d2c11' },
    ],
  });
  t.deepEqual(
    noDir.error?.issues.map((i) => [i.path.join('.'), i.message]),
    [['deployTargets.0.directory', 'an agent target needs a directory']]
  );
  // manual and offline targets need neither
  t.true(
    definitionInputSchema.safeParse({
      ...base,
      deployTargets: [
        { serverName: 'a', serverType: 'apache', method: 'manual' },
        { serverName: 'b', serverType: 'nginx', method: 'offline' },
      ],
    }).success
  );
});
