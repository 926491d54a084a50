import test from 'ava';
import { dnsNameMatches, hostnameCovered } from '@certfleet/shared';

test('RFC 6125 wildcard rules', (t) => {
  t.true(dnsNameMatches('*.example.com', 'www.example.com'));
  t.true(dnsNameMatches('*.Example.COM', 'WWW.example.com.'), 'case and one trailing dot ignored');
  t.false(dnsNameMatches('*.example.com', 'example.com'), 'a wildcard never matches an empty label');
  t.false(dnsNameMatches('*.example.com', 'a.b.example.com'), 'exactly one label');
  t.false(dnsNameMatches('*.com', 'example.com'), 'at least two labels after the wildcard');
  t.false(dnsNameMatches('w*.example.com', 'www.example.com'), 'no partial wildcards');
  t.false(dnsNameMatches('www.*.example.com', 'www.a.example.com'), 'left-most label only');
  t.false(dnsNameMatches('*.example.com', 'xn--bcher-kva.example.com'), 'no wildcard over an IDN A-label');
  t.true(dnsNameMatches('xn--bcher-kva.example.com', 'XN--BCHER-KVA.example.com'));
  t.false(dnsNameMatches('', 'example.com'));
});

test('SANs win over the CN; CN is consulted only without DNS SANs; IPs match IP SANs only', (t) => {
  t.true(hostnameCovered('a.example.com', ['DNS:a.example.com']).covered);
  t.false(hostnameCovered('cn.example.com', ['DNS:a.example.com'], ['cn.example.com']).covered);
  const viaCn = hostnameCovered('cn.example.com', ['IP:10.0.0.1'], ['cn.example.com']);
  t.true(viaCn.covered);
  t.true(viaCn.viaCommonName);
  t.true(hostnameCovered('10.0.0.1', ['IP:10.0.0.1']).covered);
  t.false(hostnameCovered('10.0.0.1', ['DNS:10.0.0.1'], ['10.0.0.1']).covered);
  t.true(hostnameCovered('2001:db8::1', ['IP:2001:db8:0:0:0:0:0:1']).covered);
  t.true(hostnameCovered('[2001:DB8::1]', ['IP:2001:db8::1']).covered);
  t.false(hostnameCovered('2001:db8::2', ['IP:2001:db8::1']).covered);
});
