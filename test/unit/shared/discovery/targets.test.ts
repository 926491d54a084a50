/**
 * Discovery targets and ports (SPEC S1): CIDR blocks (at most /16), IPv4 ranges, host names and IPv6 literals
 * expand to exactly the hosts they name, nothing more; the default port list; strict refusal of anything else.
 */
import test, { type ExecutionContext } from 'ava';
import {
  CertFleetError,
  DEFAULT_PORTS,
  MAX_TARGETS,
  type ScanFinding,
  expandTargets,
  findingsToCsv,
  intToIpv4,
  parsePorts,
  scan,
} from '@certfleet/shared';

const hosts = (spec: string[]): string[] => expandTargets(spec).map((t) => t.host);
const refused = (t: ExecutionContext, fn: () => unknown, match: RegExp): void => {
  const err = t.throws(fn);
  t.true(err instanceof CertFleetError, String(err));
  t.is((err as CertFleetError).code, 'CF_VALIDATION');
  t.regex((err as Error).message, match);
};

test('S1 an IPv4 CIDR expands to every address of its block, aligned to the prefix', (t) => {
  t.deepEqual(hosts(['198.18.0.0/30']), ['198.18.0.0', '198.18.0.1', '198.18.0.2', '198.18.0.3']);
  // A host address with a prefix means its block.
  t.deepEqual(hosts(['198.18.0.6/30']), ['198.18.0.4', '198.18.0.5', '198.18.0.6', '198.18.0.7']);
  t.deepEqual(hosts(['198.18.0.9/32']), ['198.18.0.9']);
  const slash27 = hosts(['198.18.0.0/27']);
  t.is(slash27.length, 32);
  t.is(slash27[31], '198.18.0.31');
  const slash16 = expandTargets(['10.1.0.0/16']);
  t.is(slash16.length, 65_536);
  t.is(slash16[65_535]?.host, '10.1.255.255');
  t.true(slash16.every((x) => x.kind === 'ipv4'));
});

test('S1 a block wider than /16 is refused with CF_VALIDATION before anything is expanded', (t) => {
  refused(t, () => expandTargets(['10.0.0.0/15']), /widest block is \/16/);
  refused(t, () => expandTargets(['0.0.0.0/0']), /widest block/);
  refused(t, () => expandTargets(['10.0.0.0/33']), /prefix length/);
  refused(t, () => expandTargets(['10.0.0.256/24']), /not an IPv4 address/);
  // Two /16s are more hosts than one scan takes.
  refused(t, () => expandTargets(['10.1.0.0/16', '10.2.0.0/16']), new RegExp(`more than ${MAX_TARGETS}`));
});

test('S1 IPv4 ranges: last-octet and full forms, inclusive; reversed or oversized ranges are refused', (t) => {
  t.deepEqual(hosts(['198.18.0.10-12']), ['198.18.0.10', '198.18.0.11', '198.18.0.12']);
  t.deepEqual(hosts(['198.18.0.254-198.18.1.1']), ['198.18.0.254', '198.18.0.255', '198.18.1.0', '198.18.1.1']);
  refused(t, () => expandTargets(['198.18.0.12-10']), /before its start/);
  refused(t, () => expandTargets(['198.18.0.1-256']), /0-255/);
  refused(t, () => expandTargets(['10.0.0.0-10.2.0.0']), /at most 65536/);
});

test('S1 host names and IPv6 literals are kept as single targets, canonical and de-duplicated in input order', (t) => {
  const got = expandTargets([
    'Mail.Example.COM',
    '2001:DB8::1',
    '[2001:db8:0:0::1]',
    '2001:db8::2/128',
    'mail.example.com.',
    '198.18.0.1, 198.18.0.1 198.18.0.0/31',
  ]);
  t.deepEqual(got, [
    { host: 'mail.example.com', kind: 'name' },
    { host: '2001:db8::1', kind: 'ipv6' },
    { host: '2001:db8::2', kind: 'ipv6' },
    { host: '198.18.0.1', kind: 'ipv4' },
    { host: '198.18.0.0', kind: 'ipv4' },
  ]);
});

test('S1 malformed targets are refused, never guessed', (t) => {
  refused(t, () => expandTargets([]), /no targets/);
  refused(t, () => expandTargets(['  ']), /no targets/);
  refused(t, () => expandTargets(['2001:db8::/64']), /IPv6 prefixes/);
  refused(t, () => expandTargets(['2001:db8::zz']), /not an IPv6/);
  refused(t, () => expandTargets(['exa mple$.com']), /not an address/);
  refused(t, () => expandTargets(['1.2.3']), /not an address|not a valid IPv4/);
  refused(t, () => expandTargets(['12345']), /not an address/);
  refused(t, () => expandTargets(['-x.example']), /not an address/);
});

test('S1 the default ports: 443, 465, 636, 993, 995, 8443 plus STARTTLS on 25, 110, 143, 587', (t) => {
  t.deepEqual(
    DEFAULT_PORTS.map((p) => `${p.port}${p.starttls ? `/${p.starttls}` : ''}`),
    ['25/smtp', '110/pop3', '143/imap', '443', '465', '587/smtp', '636', '993', '995', '8443']
  );
});

test('S1 port lists: single ports, ranges, explicit STARTTLS or plain TLS, defaults for the STARTTLS ports', (t) => {
  t.deepEqual(parsePorts(['443,8443', '25', '2525/smtp', '587/tls', '4431-4433', 443]), [
    { port: 443, starttls: null },
    { port: 8443, starttls: null },
    { port: 25, starttls: 'smtp' },
    { port: 2525, starttls: 'smtp' },
    { port: 587, starttls: null },
    { port: 4431, starttls: null },
    { port: 4432, starttls: null },
    { port: 4433, starttls: null },
  ]);
  refused(t, () => parsePorts(['0']), /1-65535/);
  refused(t, () => parsePorts(['65536']), /1-65535/);
  refused(t, () => parsePorts(['443/http']), /protocol/);
  refused(t, () => parsePorts(['1-65535']), /more than 1024/);
  refused(t, () => parsePorts(['x']), /expected PORT/);
  refused(t, () => parsePorts([]), /no ports/);
});

test('intToIpv4 renders unsigned 32-bit values', (t) => {
  t.is(intToIpv4(0), '0.0.0.0');
  t.is(intToIpv4(0xffffffff), '255.255.255.255');
  t.is(intToIpv4(0xc6120001), '198.18.0.1');
});

test('S2 findingsToCsv: header, quoting, and no spreadsheet formulas from served subjects', (t) => {
  const csv = findingsToCsv([
    {
      host: '198.18.0.10',
      port: 587,
      starttls: 'smtp',
      sha256: 'ab',
      sha1: 'cd',
      subject: 'CN=x, O="Evil, Inc"',
      issuer: '=HYPERLINK("http://x")',
      notAfter: '2030-01-01T00:00:00.000Z',
      status: 'failing',
      reason: 'SelfSigned',
    } as unknown as ScanFinding,
  ]);
  t.is(
    csv,
    'host,port,starttls,sha256,sha1,subject,issuer,notAfter,status,reason\r\n' +
      '198.18.0.10,587,smtp,ab,cd,"CN=x, O=""Evil, Inc""","\'=HYPERLINK(""http://x"")",2030-01-01T00:00:00.000Z,failing,SelfSigned\r\n'
  );
});

test('S1 scan refuses out-of-bounds options and more pairs than allowed, before any connection', async (t) => {
  const targets = expandTargets(['198.18.0.0/24']);
  await t.throwsAsync(() => scan(targets, DEFAULT_PORTS, { maxPairs: 100 }), { message: /at most 100/ });
  await t.throwsAsync(() => scan(targets, DEFAULT_PORTS, { concurrency: 0 }), { message: /concurrency/ });
  await t.throwsAsync(() => scan(targets, DEFAULT_PORTS, { connectTimeoutMs: -1 }), { message: /connectTimeoutMs/ });
});

test('S1 an aborted scan stops at once and reports it', async (t) => {
  const abort = new AbortController();
  abort.abort();
  const r = await scan(expandTargets(['127.0.0.1']), parsePorts(['1']), { signal: abort.signal });
  t.is(r.stats.stopped, 'aborted');
  t.deepEqual(r.findings, []);
});
