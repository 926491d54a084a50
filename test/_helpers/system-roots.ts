/**
 * The roots of the system store (Debian's ca-certificates) for tests that compare CertFleet's DER readers with
 * OpenSSL over many real certificates. Without the bundle the comparison cannot run: logged on a developer laptop,
 * a failure under CI (where .ci/run installs ca-certificates).
 */
import type { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { SYSTEM_CA_BUNDLE, systemTrustSet } from '@certfleet/shared';
import { isCI } from './needs';

/** The system roots (at least 100), or `undefined` after logging (failing under CI) that the bundle is missing. */
export function systemRootsFor(t: ExecutionContext): readonly X509Certificate[] | undefined {
  if (!existsSync(SYSTEM_CA_BUNDLE)) {
    t.log(`${SYSTEM_CA_BUNDLE} missing: system roots not compared`);
    if (isCI) t.fail(`${SYSTEM_CA_BUNDLE} is missing (ca-certificates)`);
    else t.pass(); // a laptop without ca-certificates: logged above; ava needs one assertion
    return undefined;
  }
  const roots = systemTrustSet().roots;
  t.true(roots.length >= 100, `${roots.length} system roots`);
  return roots;
}
