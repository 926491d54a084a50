import test from 'ava';
import {
  type CertificateDefinition,
  type DeployTarget,
  deployTargetSchema,
} from '../../../../controller/src/domain/definition';
import { checkEndpointOf, installTargetOf } from '../../../../controller/src/domain/deployment';
import {
  derivedEndpointOf,
  derivedEndpointsOf,
  nameOf,
} from '../../../../controller/src/domain/deploy-target-endpoint';

type Def = Pick<CertificateDefinition, 'subject' | 'sans' | 'operationMode' | 'deployTargets'>;
const def = (over: Partial<Def> = {}): Def => ({
  subject: { commonName: 'www.example.com' },
  sans: [{ type: 'dns', value: 'www.example.com' }],
  operationMode: 'managed',
  deployTargets: [],
  ...over,
});
const target = (t: Partial<DeployTarget> & Pick<DeployTarget, 'serverType'>): DeployTarget => ({
  serverName: 's',
  ...t,
});
const portOf = (t: DeployTarget, opts = {}) => derivedEndpointOf(def(), t, 0, opts);

test('D1 default check ports and STARTTLS by server type', (t) => {
  t.like(portOf(target({ serverType: 'nginx' })), { port: 443, starttls: null });
  t.like(portOf(target({ serverType: 'apache' })), { port: 443, starttls: null });
  t.like(portOf(target({ serverType: 'haproxy' })), { port: 443, starttls: null });
  t.like(portOf(target({ serverType: 'postfix' })), { port: 25, starttls: 'smtp' });
  t.like(portOf(target({ serverType: 'postfix', checkPort: 587 })), { port: 587, starttls: 'smtp' });
  t.like(portOf(target({ serverType: 'postfix', checkPort: 465 })), { port: 465, starttls: null });
  t.like(portOf(target({ serverType: 'dovecot' })), { port: 993, starttls: null });
  t.like(portOf(target({ serverType: 'dovecot', starttls: 'imap' })), { port: 143, starttls: 'imap' });
  t.like(portOf(target({ serverType: 'file-command' })), { port: 443 });
  t.like(portOf(target({ serverType: 'java-keystore', checkPort: 8443 })), { port: 8443 });
  t.like(portOf(target({ serverType: 'this-controller' })), { port: 443 });
  t.like(portOf(target({ serverType: 'this-controller' }), { controllerHttpsPort: 8443 }), { port: 8443 });
});

test('D1 M4 host defaults to the CN (SNI the certificate name); agent targets are probed by their agent', (t) => {
  t.like(portOf(target({ serverType: 'nginx' })), {
    host: 'www.example.com',
    serverName: 'www.example.com',
    probeFrom: 'controller',
    agentId: null,
  });
  t.like(portOf(target({ serverType: 'nginx', checkHost: '10.0.0.5' })), {
    host: '10.0.0.5',
    serverName: 'www.example.com',
  });
  const agentId = '6f1c0e8e-6f36-4a8b-9d55-2f7b3c0b6a11';
  t.like(portOf(target({ serverType: 'nginx', method: 'agent', agentId, directory: '/etc/x' })), {
    probeFrom: 'agent',
    agentId,
  });
  t.like(portOf(target({ serverType: 'nginx', agentId })), { probeFrom: 'agent', agentId }, 'method defaults to agent');
  t.like(portOf(target({ serverType: 'nginx', method: 'manual', agentId })), {
    probeFrom: 'controller',
    agentId: null,
  });
});

test('D1 a wildcard CN uses the first plain DNS SAN; no host name and no check host → no endpoint', (t) => {
  const wild = def({
    subject: { commonName: '*.example.com' },
    sans: [
      { type: 'dns', value: '*.example.com' },
      { type: 'dns', value: 'example.com' },
    ],
  });
  t.is(nameOf(wild), 'example.com');
  const none = def({ subject: { commonName: 'Internal Service' }, sans: [] });
  t.is(derivedEndpointOf(none, target({ serverType: 'nginx' }), 0), null);
  t.like(derivedEndpointOf(none, target({ serverType: 'nginx', checkHost: 'svc.internal' }), 0), {
    host: 'svc.internal',
    serverName: null,
  });
  t.like(
    derivedEndpointOf(def({ subject: { commonName: '192.0.2.7' }, sans: [] }), target({ serverType: 'nginx' }), 0),
    {
      host: '192.0.2.7',
      serverName: null,
    }
  );
});

test('D1 M3 only Lifecycle-Managed definitions derive endpoints, one per target with its index', (t) => {
  const targets = [target({ serverType: 'nginx' }), target({ serverType: 'postfix' })];
  t.deepEqual(
    derivedEndpointsOf(def({ deployTargets: targets })).map((e) => [e.deployTargetIndex, e.port]),
    [
      [0, 443],
      [1, 25],
    ]
  );
  t.deepEqual(derivedEndpointsOf(def({ deployTargets: targets, operationMode: 'monitored' })), []);
});

test('D6 M2 the deploy check, the agent post-install probe and the monitored endpoint name the same host:port and STARTTLS for every server type', (t) => {
  const types = deployTargetSchema.shape.serverType.options;
  const variants: Array<Partial<DeployTarget>> = [
    {},
    { checkPort: 587 },
    { checkPort: 465 },
    { starttls: 'imap' },
    { starttls: 'pop3' },
    { starttls: 'smtp' },
    { checkHost: 'MAIL.Example.COM.' },
  ];
  const opts = { controllerHttpsPort: 9443 };
  for (const serverType of types) {
    for (const v of variants) {
      const tg = target({ serverType, directory: '/etc/x', ...v });
      const label = `${serverType} ${JSON.stringify(v)}`;
      const derived = derivedEndpointOf(def(), tg, 0, opts);
      if (!derived) return t.fail(`${label}: no derived endpoint`);
      const check = checkEndpointOf(tg, 'www.example.com', opts);
      const { host, port, starttls } = derived;
      t.deepEqual({ host: check.host, port: check.port, starttls: check.starttls }, { host, port, starttls }, label);
      if (serverType === 'file-command' || serverType === 'this-controller') continue; // no installer
      const probe = installTargetOf(tg, 'www.example.com', opts).probe;
      t.deepEqual(
        { host: probe?.host, port: probe?.port, starttls: probe?.starttls ?? null },
        { host, port, starttls },
        label
      );
    }
  }
  // the cases the older rule (443 unless STARTTLS) got wrong
  t.like(checkEndpointOf(target({ serverType: 'dovecot' }), 'www.example.com'), { port: 993, starttls: null });
  t.like(checkEndpointOf(target({ serverType: 'postfix' }), 'www.example.com'), { port: 25, starttls: 'smtp' });
  t.like(checkEndpointOf(target({ serverType: 'this-controller' }), 'www.example.com', opts), { port: 9443 });
});
