/**
 * `certfleet-agent enroll` (SPEC G1): pin the controller's agent CA by fingerprint, make the TLS key and the bundle
 * key on this host, exchange the join token and CSR for an agent certificate, and store everything in the state
 * directory (0700; keys 0600). The join token is never written anywhere.
 */
import os from 'node:os';
import { CertFleetError, generateBundleKeyPair } from '@certfleet/shared';
import { enrollmentClient, fetchPinnedCa, unary } from './client/controller-client';
import { generateAgentKeyAndCsr } from './client/csr';
import type { StateStore } from './state/state-store';
import { AGENT_VERSION } from './version';

export interface EnrollOptions {
  controller: string;
  token: string;
  caSha256: string;
  hostname?: string;
}

export async function enroll(store: StateStore, opts: EnrollOptions): Promise<{ agentId: string }> {
  if (store.isEnrolled()) {
    throw new CertFleetError(
      'CF_CONFLICT',
      `agent: already enrolled (state in ${store.dir}); remove it or run \`certfleet-agent status\``
    );
  }
  const controllerCaPem = await fetchPinnedCa(opts.controller, opts.caSha256);
  const hostname = opts.hostname ?? os.hostname();
  const { keyPem, csrPem } = await generateAgentKeyAndCsr(hostname);
  const bundleKey = await generateBundleKeyPair();
  const client = enrollmentClient(opts.controller, controllerCaPem);
  try {
    const res = await unary(client.enroll.bind(client), {
      joinToken: opts.token,
      csrPem,
      hostname: hostname.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 253) || 'agent',
      agentVersion: AGENT_VERSION,
      bundlePublicKey: bundleKey.recipient,
    });
    if (!res.agentId || !res.agentCertificatePem || !res.bundleSigningPublicKey) {
      throw new CertFleetError('CF_INTERNAL', 'agent: the controller sent an incomplete enrollment response');
    }
    store.ensureDir();
    store.writeIdentity({
      keyPem,
      certPem: res.agentCertificatePem,
      bundleIdentity: bundleKey.identity,
      controllerCaPem: res.controllerCaPem || controllerCaPem,
      signingPublicKeyPem: res.bundleSigningPublicKey,
    });
    store.write({
      v: 1,
      agentId: res.agentId,
      controller: opts.controller,
      enrolledAt: new Date().toISOString(),
      lastVersions: {},
      results: {},
    });
    return { agentId: res.agentId };
  } finally {
    client.close();
  }
}
