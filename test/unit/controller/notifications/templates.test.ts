import test from 'ava';
import { isCertFleetError } from '@certfleet/shared';
import {
  mailTemplates,
  renderTemplate,
  templateNames,
  type TemplateInput,
  type TemplateName,
} from '../../../../controller/src/notifications/templates';

const SHA256 = 'a'.repeat(64);
const SHA256_B = 'b'.repeat(64);
const AT = '2026-05-01T09:30:00.000Z';
const JA = '本番ウェブサーバー証明書';

/** One realistic data sample per template (Japanese in a name field of each). */
const samples: { [K in TemplateName]: TemplateInput<K> } = {
  'test-mail': { requestedBy: 'user:admin', at: AT, controllerUrl: 'https://certfleet.example.test:8443/' },
  'stalled-process': {
    definitionName: JA,
    definitionId: '7b0c6c2e-1b1a-4a52-9f3e-0d3d0a7f8e11',
    requestId: 'c5b2b9f0-3a0e-4c55-8f3a-1f2e3d4c5b6a',
    requestKind: 'renewal',
    step: 'ordered',
    stoppedAt: AT,
    waitingFor: ['order number', 'order date'],
  },
  'expiry-warning': {
    certificates: [
      { definitionName: 'web2', notAfter: '2026-05-20T00:00:00Z', daysLeft: 19, operationMode: 'monitored' },
      { definitionName: JA, commonName: 'www.example.jp', notAfter: '2026-05-05T00:00:00Z', daysLeft: 4 },
    ],
    thresholdDays: 30,
  },
  'certificate-issued': {
    definitionName: JA,
    commonName: 'www.example.jp',
    sans: ['www.example.jp', 'example.jp'],
    serial: '0a1b2c',
    issuer: 'CN=CertFleet Root CA 20260501',
    notBefore: AT,
    notAfter: '2026-08-01T09:30:00Z',
    sha256: SHA256,
    requestKind: 'renewal',
    nextStep: 'deployment to web1 pending',
  },
  'install-request': {
    definitionName: JA,
    serverName: 'web1.intra',
    serverType: 'nginx',
    commonName: 'www.example.jp',
    notAfter: '2026-08-01T09:30:00Z',
    sha256: SHA256,
    packageUrl: 'https://certfleet.example.test/api/v1/packages/123',
    instructions: ['Unpack the zip', 'Run the included install.sh as root'],
    installBy: '2026-05-10T00:00:00Z',
    checkEndpoint: 'web1.intra:443',
  },
  'install-notification': {
    definitionName: JA,
    serverName: 'web1.intra',
    commonName: 'www.example.jp',
    installedAt: AT,
    method: 'agent',
    installedBy: 'agent web1',
    sha256: SHA256,
    previousSha256: SHA256_B,
    notAfter: '2026-08-01T09:30:00Z',
  },
  'deploy-check-result': {
    definitionName: JA,
    endpoint: 'web1.intra:443',
    checkedAt: AT,
    checkedBy: 'controller',
    ok: false,
    expectedSha256: SHA256,
    servedSha256: SHA256_B,
    missingIntermediates: ['CN=Example Intermediate CA'],
    problems: ['the server still serves the previous certificate'],
  },
  'daily-digest': {
    date: AT,
    failingChecks: [{ definitionName: JA, endpoint: 'web1.intra:443', reason: 'fingerprint differs', since: AT }],
    expiringCertificates: [{ definitionName: 'web2', notAfter: '2026-05-20T00:00:00Z', daysLeft: 19 }],
    stalledProcesses: [
      { definitionName: 'web3', requestId: 'c5b2b9f0', step: 'ordered', reason: 'waiting for the order number' },
    ],
    overdueRenewals: [{ definitionName: 'web4', notAfter: '2026-05-03T00:00:00Z', daysLeft: 2 }],
    agentsNotSeen: [{ agentName: 'dmz-agent', lastSeenAt: null }],
  },
};

test('N2 every registered template has a sample here', (t) => {
  t.deepEqual(Object.keys(samples).sort(), [...templateNames].sort());
  t.deepEqual(
    Object.values(mailTemplates)
      .map((m) => m.name)
      .sort(),
    [...templateNames].sort(),
    'registry keys equal template names (sent_mail.template)'
  );
});

for (const name of Object.keys(samples) as TemplateName[]) {
  test(`N2 ${name} renders sample data: one-line [CertFleet] subject, text first, escaped HTML, UTF-8 kept`, (t) => {
    const out = renderTemplate(name, samples[name] as never);
    t.true(out.subject.startsWith('[CertFleet] '), out.subject);
    t.false(/[\r\n]/.test(out.subject));
    t.true(out.text.length > 40);
    t.true(out.text.endsWith('\n'));
    t.truthy(out.html);
    t.true(out.html!.startsWith('<!DOCTYPE html>'));
    t.true(out.html!.includes('<meta charset="utf-8">'));
    if (name !== 'test-mail') {
      t.true(out.text.includes(JA) || out.text.includes('web'), 'the definition name is in the text');
    } else {
      t.true(out.text.includes('これは CertFleet からのテストメールです'));
    }
    if (JSON.stringify(samples[name]).includes(JA)) {
      t.true(out.text.includes(JA), 'Japanese survives in text');
      t.true(out.html!.includes(JA), 'Japanese survives in HTML');
    }
  });
}

test('N2 stalled-process names the definition, request, step, what it waits for and how to resume (O2)', (t) => {
  const out = renderTemplate('stalled-process', samples['stalled-process']);
  t.is(out.subject, `[CertFleet] Process stalled: ${JA} (ordered)`);
  for (const s of ['c5b2b9f0-3a0e-4c55-8f3a-1f2e3d4c5b6a', 'Step:', 'ordered', '- order number', '- order date']) {
    t.true(out.text.includes(s), s);
  }
  t.regex(out.text, /How to resume[\s\S]*interactively[\s\S]*unattended/);
  t.true(out.text.includes('Stopped at:') && out.text.includes('2026-05-01 09:30 UTC'));

  const err = renderTemplate('stalled-process', {
    definitionName: 'web1',
    requestId: 'r1',
    step: 'ordered',
    stoppedAt: AT,
    error: { code: 'CF_ISSUER_UNAVAILABLE', message: 'acme: directory unreachable', retryable: true },
    resume: ['Fix the network, then POST /api/v1/requests/r1/resume'],
  });
  t.true(err.text.includes('stopped on an error'));
  t.true(err.text.includes('CF_ISSUER_UNAVAILABLE'));
  t.true(err.text.includes('- Fix the network, then POST /api/v1/requests/r1/resume'));
});

test('N2 stalled-process needs waitingFor or error', (t) => {
  const e = t.throws(() =>
    renderTemplate('stalled-process', { definitionName: 'web1', requestId: 'r1', step: 'ordered', stoppedAt: AT })
  );
  t.true(isCertFleetError(e));
  t.is((e as { code?: string }).code, 'CF_VALIDATION');
});

test('N2 expiry-warning lists soonest first with days left', (t) => {
  const out = renderTemplate('expiry-warning', samples['expiry-warning']);
  t.is(out.subject, '[CertFleet] Expiry warning: 2 certificates expire soon');
  t.true(out.text.indexOf(JA) < out.text.indexOf('web2'), 'sorted by days left');
  t.true(out.text.includes('Days left: 4 days'));
  t.true(out.text.includes('within 30 days'));
  const one = renderTemplate('expiry-warning', {
    certificates: [{ definitionName: 'old', notAfter: '2026-04-29T00:00:00Z', daysLeft: -2 }],
  });
  t.is(one.subject, '[CertFleet] Expiry warning: old has expired');
  t.true(one.text.includes('expired 2 days ago'));
  t.throws(() => renderTemplate('expiry-warning', { certificates: [] }), { message: /certificates/ });
});

test('M5 daily-digest accepts empty sections and says nothing needs attention', (t) => {
  const empty = renderTemplate('daily-digest', { date: AT });
  t.is(empty.subject, '[CertFleet] Daily digest 2026-05-01: nothing needs attention');
  t.true(empty.text.includes('Nothing needs your attention today.'));
  for (const s of [
    'Failing checks (0)',
    'Expiring certificates (0)',
    'Stalled processes (0)',
    'Overdue renewals (0)',
    'Agents not seen (0)',
  ]) {
    t.true(empty.text.includes(s), s);
  }
  t.is(empty.text.match(/^None\.$/gm)?.length, 5);
  const explicit = renderTemplate('daily-digest', {
    date: AT,
    failingChecks: [],
    expiringCertificates: [],
    stalledProcesses: [],
    overdueRenewals: [],
    agentsNotSeen: [],
  });
  t.is(explicit.text, empty.text);

  const full = renderTemplate('daily-digest', samples['daily-digest']);
  t.is(full.subject, '[CertFleet] Daily digest 2026-05-01: 5 items need attention');
  t.true(full.text.includes('Agent: dmz-agent') || full.text.includes('- dmz-agent | Last seen: never'));
  t.true(full.text.includes('fingerprint differs'));
});

test('N2 deploy-check-result says FAILED and shows both fingerprints', (t) => {
  const out = renderTemplate('deploy-check-result', samples['deploy-check-result']);
  t.is(out.subject, `[CertFleet] Deploy check FAILED: ${JA} at web1.intra:443`);
  t.true(out.text.includes('Fingerprint:') && out.text.includes('DIFFERS'));
  t.true(out.text.includes('- CN=Example Intermediate CA'));
  const ok = renderTemplate('deploy-check-result', {
    ...samples['deploy-check-result'],
    ok: true,
    servedSha256: SHA256.toUpperCase().match(/../g)!.join(':'),
    missingIntermediates: [],
    problems: [],
  });
  t.true(ok.subject.includes('Deploy check OK'));
  t.true(ok.text.includes('matches'), 'colon-separated upper-case fingerprint equals the hex one');
});

test('N2 data cannot inject markup or headers: HTML escaped, subject stays one line', (t) => {
  const evil = 'web1<script>alert(1)</script>\r\nBcc: victim@example.test';
  const out = renderTemplate('certificate-issued', { ...samples['certificate-issued'], definitionName: evil });
  t.false(/[\r\n]/.test(out.subject));
  t.true(out.subject.includes('Bcc: victim@example.test'), 'kept as text, on the subject line');
  t.false(out.html!.includes('<script>'));
  t.true(out.html!.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  t.true(out.text.includes('<script>'), 'the plain text body is plain text');
});

test('N2 bad data is a CF_VALIDATION naming the field; unknown templates are refused', (t) => {
  const e = t.throws(() =>
    renderTemplate('certificate-issued', { ...samples['certificate-issued'], sha256: 'not-a-fingerprint' })
  );
  t.is((e as { code?: string }).code, 'CF_VALIDATION');
  t.regex(e!.message, /sha256/);
  const u = t.throws(() => renderTemplate('no-such-template' as TemplateName, {} as never));
  t.is((u as { code?: string }).code, 'CF_VALIDATION');
  const date = t.throws(() => renderTemplate('test-mail', { requestedBy: 'x', at: 'yesterday' }));
  t.regex(date!.message, /at/);
});

test('N2 templates are pure: same data, same output', (t) => {
  for (const name of templateNames) {
    t.deepEqual(renderTemplate(name, samples[name] as never), renderTemplate(name, samples[name] as never));
  }
});

test('N2 certificate-issued accepts the acquisition engine payload (subject DN instead of common name)', (t) => {
  const out = renderTemplate('certificate-issued', {
    definitionName: 'web1',
    subject: 'CN=web1.example.test, O=Example, C=JP',
    notAfter: new Date('2026-08-01T00:00:00Z'),
    sha256: SHA256,
    issuer: 'internal-ca',
  });
  t.is(out.subject, '[CertFleet] Certificate issued: web1 (CN=web1.example.test, O=Example, C=JP)');
  t.true(out.text.includes('Issuer:') && out.text.includes('internal-ca'));
  t.false(out.text.includes('Valid from'), 'absent fields are left out');
});
