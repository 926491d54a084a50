/**
 * The agent's own key and CSR (SPEC G1): an EC P-256 key made on the host (never leaves it) and a PKCS#10 request
 * for it. The controller takes only the public key from the CSR.
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';

export interface AgentKeyAndCsr {
  keyPem: string;
  csrPem: string;
}

export async function generateAgentKeyAndCsr(hostname: string): Promise<AgentKeyAndCsr> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subtle = crypto.webcrypto.subtle;
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = {
    privateKey: await subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), alg, false, [
      'sign',
    ]),
    publicKey: await subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), alg, true, ['verify']),
  };
  const cn = hostname.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64) || 'agent';
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: `CN=${cn}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } },
    crypto.webcrypto as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1]
  );
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    csrPem: csr.toString('pem'),
  };
}
