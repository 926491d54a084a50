import test from 'ava';
import {
  cidrContains,
  formatCidr,
  formatIp,
  isAllowedByList,
  parseCidr,
  parseIp,
  type Cidr,
} from '../../../../controller/src/domain/cidr';

function cidr(s: string): Cidr {
  const r = parseCidr(s);
  if (!r.ok) throw new Error(r.reason);
  return r.cidr;
}

test('U2 IPv4 and IPv6 addresses parse and format canonically', (t) => {
  for (const [input, out] of [
    ['192.0.2.1', '192.0.2.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::1', '::1'],
    ['::', '::'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['fe80::1:2', 'fe80::1:2'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['2001:db8::192.0.2.1', '2001:db8::c000:201'],
    ['::ffff:127.0.0.2', '127.0.0.2'], // IPv4-mapped: treated as IPv4
    ['::FFFF:7f00:1', '127.0.0.1'],
  ] as Array<[string, string]>) {
    const ip = parseIp(input);
    t.truthy(ip, input);
    t.is(formatIp(ip!), out, input);
  }
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.4 ',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8:9',
    'g::1',
    '12345::',
    'fe80::1%eth0',
    '[::1]',
    'localhost',
  ]) {
    t.is(parseIp(bad), null, JSON.stringify(bad));
  }
});

test('U2 CIDR parsing: prefixes, bare addresses, precise reasons', (t) => {
  t.is(formatCidr(cidr('10.0.0.0/8')), '10.0.0.0/8');
  t.is(formatCidr(cidr('127.0.0.1')), '127.0.0.1/32');
  t.is(formatCidr(cidr(' 2001:DB8::/32 ')), '2001:db8::/32');
  t.is(formatCidr(cidr('::1')), '::1/128');
  t.is(formatCidr(cidr('0.0.0.0/0')), '0.0.0.0/0');
  t.is(formatCidr(cidr('::/0')), '::/0');
  const reason = (s: string) => {
    const r = parseCidr(s);
    return r.ok ? '' : r.reason;
  };
  t.regex(reason('10.1.2.3/8'), /host bits are set below \/8; did you mean 10\.0\.0\.0\/8\?/);
  t.regex(reason('2001:db8::1/32'), /did you mean 2001:db8::\/32\?/);
  t.regex(reason('10.0.0.0/33'), /prefix must be a number from 0 to 32/);
  t.regex(reason('::/129'), /from 0 to 128/);
  t.regex(reason('10.0.0.0/'), /prefix must be a number/);
  t.regex(reason('10.0.0.0/-1'), /prefix must be a number/);
  t.regex(reason('10.0.0.0/8/8'), /prefix must be a number/);
  t.regex(reason('example.com/24'), /"example\.com" is not an IPv4 or IPv6 address/);
  t.regex(reason('::ffff:10.0.0.0/104'), /plain IPv4/);
});

test('U2 containment and the allow-list decision (empty list allows all; unparsable addresses never)', (t) => {
  t.true(cidrContains(cidr('127.0.0.1/32'), parseIp('127.0.0.1')!));
  t.false(cidrContains(cidr('127.0.0.1/32'), parseIp('127.0.0.2')!));
  t.true(cidrContains(cidr('10.0.0.0/8'), parseIp('10.255.255.255')!));
  t.false(cidrContains(cidr('10.0.0.0/8'), parseIp('11.0.0.0')!));
  t.true(cidrContains(cidr('0.0.0.0/0'), parseIp('203.0.113.9')!));
  t.false(cidrContains(cidr('0.0.0.0/0'), parseIp('::1')!), 'families never mix');
  t.false(cidrContains(cidr('::/0'), parseIp('127.0.0.1')!));
  t.true(cidrContains(cidr('2001:db8::/32'), parseIp('2001:db8:ffff::1')!));
  t.false(cidrContains(cidr('2001:db8::/32'), parseIp('2001:db9::')!));
  t.true(cidrContains(cidr('fe80::/10'), parseIp('febf::1')!));
  t.false(cidrContains(cidr('fe80::/10'), parseIp('fec0::1')!));

  t.true(isAllowedByList([], 'whatever'), 'empty list: everyone');
  const list = [cidr('127.0.0.1/32'), cidr('2001:db8::/32')];
  t.true(isAllowedByList(list, '127.0.0.1'));
  t.true(isAllowedByList(list, '::ffff:127.0.0.1'), 'dual-stack socket view of an IPv4 client');
  t.false(isAllowedByList(list, '127.0.0.2'));
  t.true(isAllowedByList(list, '2001:db8::5'));
  t.false(isAllowedByList(list, '::1'));
  t.false(isAllowedByList(list, ''));
  t.false(isAllowedByList(list, 'not an address'));
});
