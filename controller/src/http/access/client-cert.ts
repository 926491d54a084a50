/**
 * Client-certificate login on the HTTPS listener (SPEC U4). The listener asks every client for a certificate
 * (`requestCert: true`) but accepts connections without one (`rejectUnauthorized: false`): the certificate only
 * matters at login, where {@link requireClientCertificate} checks it against the allowed thumbprints when the
 * feature is on. TLS itself has already proven that the client holds the certificate's private key.
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { CertFleetError } from '@certfleet/shared';
import type { PresentedCertificate } from '../../domain/client-cert-login';
import { accessSettings, clientCertificateRefusal } from '../../services/access-settings-service';
import type { ServiceContext } from '../../services/context';

/** The TLS options of the HTTPS listener that make clients offer their certificate. */
export const CLIENT_CERT_TLS_OPTIONS = { requestCert: true, rejectUnauthorized: false } as const;

/** The certificate the client presented on this connection, or null (no TLS, or no certificate). */
export function presentedCertificate(req: FastifyRequest): PresentedCertificate | null {
  const socket = req.raw.socket as Partial<TLSSocket>;
  // Only the leaf, decoded from its DER: getPeerX509Certificate() would also build (and, in Node 20, leak) every
  // issuer the client sent (see shared/src/probe/handshake-tap.ts).
  const raw = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(false).raw : undefined;
  if (!raw?.length) return null;
  const x = new X509Certificate(raw);
  return {
    sha1: x.fingerprint.replace(/:/g, '').toLowerCase(),
    sha256: x.fingerprint256.replace(/:/g, '').toLowerCase(),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    subject: x.subject,
  };
}

/**
 * Throws CF_CLIENT_CERT_REQUIRED when client-certificate login is on and this connection does not present an
 * allowed, valid, unrevoked certificate (`details.reason` says why).
 */
export async function requireClientCertificate(ctx: ServiceContext, req: FastifyRequest): Promise<void> {
  const { clientCertLogin } = await accessSettings(ctx).get();
  if (!clientCertLogin.enabled) return;
  const refusal = await clientCertificateRefusal(ctx, clientCertLogin, presentedCertificate(req));
  if (!refusal) return;
  throw new CertFleetError(
    'CF_CLIENT_CERT_REQUIRED',
    refusal === 'no-certificate'
      ? 'auth: this controller requires a client certificate at login; none was presented'
      : `auth: the presented client certificate is not accepted (${refusal})`,
    { details: { reason: refusal } }
  );
}
