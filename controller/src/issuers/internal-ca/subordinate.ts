/**
 * internal-ca: subordinate CA mode (SPEC C1). Pure: no I/O, no storage.
 *
 * 1. {@link createSubordinateCaRequest}: a fresh CA key and a PKCS#10 request asking for CA:TRUE with keyUsage
 *    keyCertSign + cRLSign, under a unique timestamped DN (`CN=<name> 2026-11-25T20:10:00Z, O=CertFleet`), to be
 *    signed by a parent CA outside CertFleet.
 * 2. {@link validateSubordinateCertificate}: the parent-issued certificate is accepted only when it carries our
 *    key, is a CA (CA:TRUE, keyUsage with keyCertSign and cRLSign, since this CA signs certificates and CRLs), is
 *    valid now (notBefore may be up to 5 minutes ahead, for clock skew), and chains through the provided parent
 *    certificates to a self-signed root, every signature verifying, every parent a valid CA whose
 *    pathLenConstraint allows the depth.
 */
import 'reflect-metadata';
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { z } from 'zod';
import {
  CertFleetError,
  decodePem,
  encodePem,
  generateKeyPair,
  keySpecSchema,
  summarizeCertificate,
  type KeySpec,
} from '@certfleet/shared';
import { keyUsageBits } from './crl';
import { createCsr } from './csr';
import { CLOCK_SKEW_MS, formatName, parseOrThrow } from './issue-certificate';
import { rootCaTimestamp } from './root-ca';

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
/** CN = name + ' ' + 20-character timestamp must fit 64 characters. */
const MAX_NAME_IN_CN = 43;
const MAX_CHAIN = 8;

const requestSchema = z.object({
  name: z
    .string()
    .trim()
    .min(1)
    .max(MAX_NAME_IN_CN)
    .refine((v) => !CONTROL_CHARS.test(v), 'must not contain control characters'),
  keySpec: keySpecSchema.default('EC-P384'),
  now: z.date(),
  organization: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .refine((v) => !CONTROL_CHARS.test(v), 'must not contain control characters')
    .default('CertFleet'),
  pathLength: z.number().int().min(0).max(10).optional(),
});

export interface CreateSubordinateCaRequestOptions {
  /** Human name, 1..43 characters; the CN is `<name> <timestamp>`. */
  name: string;
  /** @default 'EC-P384' */
  keySpec?: KeySpec;
  now: Date;
  /** @default 'CertFleet' */
  organization?: string;
  /** pathLenConstraint to request; omitted by default (the parent decides). */
  pathLength?: number;
}

export interface SubordinateCaRequest {
  /** PKCS#8 PEM, unencrypted: the caller seals it at rest at once (SPEC R4). */
  privateKeyPem: string;
  publicKeyPem: string;
  csrPem: string;
  /** RFC 4514 text of the requested DN, most specific first. */
  subject: string;
  keySpec: KeySpec;
}

/**
 * Generates a subordinate CA key and its CSR (CA:TRUE requested).
 * @throws CertFleetError `CF_VALIDATION` on bad options
 */
export async function createSubordinateCaRequest(
  opts: CreateSubordinateCaRequestOptions
): Promise<SubordinateCaRequest> {
  const input = parseOrThrow(requestSchema, opts, 'subordinate CA request');
  const pair = await generateKeyPair(input.keySpec);
  const attrs = { CN: `${input.name} ${rootCaTimestamp(input.now)}`, O: input.organization };
  const csrPem = createCsr({
    privateKeyPem: pair.privateKeyPem,
    subject: { commonName: attrs.CN, organization: attrs.O },
    ca: input.pathLength === undefined ? {} : { pathLength: input.pathLength },
  });
  return {
    privateKeyPem: pair.privateKeyPem,
    publicKeyPem: pair.publicKeyPem,
    csrPem,
    subject: formatName(attrs),
    keySpec: input.keySpec,
  };
}

export interface ValidateSubordinateCertificateOptions {
  /** The parent-issued CA certificate (PEM; further certificates after the first are treated as chain). */
  certificatePem: string;
  /** The subordinate CA's key (public or private; PEM or KeyObject): the certificate must carry it. */
  key: string | KeyObject;
  /** The parent chain, in any order, up to and including a self-signed root. */
  chainPem: string[];
  now: Date;
}

export interface ValidatedSubordinateCertificate {
  /** The CA certificate, re-encoded PEM. */
  certificatePem: string;
  /** The path above it, issuer first, ending with the self-signed root (re-encoded PEM). */
  chainPem: string[];
  /** RFC 4514 subject of the CA certificate, most specific first. */
  subject: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  sha256: string;
}

function rejected(message: string, details?: Record<string, unknown>): CertFleetError {
  return new CertFleetError('CF_VALIDATION', `internal-ca(subordinate): ${message}`, details ? { details } : {});
}

function certificatesIn(pems: string[], what: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const pem of pems) {
    let blocks;
    try {
      blocks = decodePem(pem);
    } catch (err) {
      throw new CertFleetError('CF_VALIDATION', `internal-ca(subordinate): ${what} is not readable PEM`, {
        cause: err,
      });
    }
    for (const block of blocks.filter((b) => b.label === 'CERTIFICATE')) {
      try {
        out.push(new X509Certificate(block.der));
      } catch (err) {
        throw new CertFleetError('CF_VALIDATION', `internal-ca(subordinate): ${what} holds an unreadable certificate`, {
          cause: err,
        });
      }
    }
  }
  return out;
}

/** Valid at `now`, allowing the usual clock skew on notBefore (a parent CA's clock may run a little ahead). */
function validAt(cert: X509Certificate, now: Date): boolean {
  const t = now.getTime();
  return new Date(cert.validFrom).getTime() - CLOCK_SKEW_MS <= t && t <= new Date(cert.validTo).getTime();
}

function pathLengthOf(cert: X509Certificate): number | undefined {
  const ext = new x509.X509Certificate(cert.raw).getExtension(x509.BasicConstraintsExtension);
  return ext?.pathLength;
}

function isSelfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

/**
 * Validates a parent-issued subordinate CA certificate before it is activated (SPEC C1).
 * @throws CertFleetError `CF_VALIDATION` naming the first failed check
 */
export function validateSubordinateCertificate(
  opts: ValidateSubordinateCertificateOptions
): ValidatedSubordinateCertificate {
  const [cert, ...extra] = certificatesIn([opts.certificatePem], 'certificatePem');
  if (!cert) throw rejected('certificatePem holds no certificate');
  const candidates = [...extra, ...certificatesIn(opts.chainPem, 'chainPem')];

  let key: KeyObject;
  try {
    key = typeof opts.key === 'string' ? createPublicKey(opts.key) : createPublicKey(opts.key);
  } catch (err) {
    throw new CertFleetError('CF_VALIDATION', 'internal-ca(subordinate): the CA key is not readable', { cause: err });
  }
  if (!cert.publicKey.equals(key)) throw rejected('the certificate does not carry this CA key (wrong certificate?)');
  if (!cert.ca) throw rejected('the certificate is not a CA certificate (basicConstraints CA:TRUE missing)');
  const usage = keyUsageBits(cert.raw);
  if (usage === null || !usage.has(5) || !usage.has(6)) {
    throw rejected('the certificate keyUsage must include keyCertSign and cRLSign');
  }
  if (!validAt(cert, opts.now)) {
    throw rejected(`the certificate is not valid now (valid ${cert.validFrom} .. ${cert.validTo})`);
  }
  if (isSelfSigned(cert)) throw rejected('the certificate is self-signed: a subordinate CA needs a parent-issued one');

  const path: X509Certificate[] = [];
  let current = cert;
  for (;;) {
    if (path.length >= MAX_CHAIN) throw rejected(`the chain is longer than ${MAX_CHAIN} certificates`);
    const issuer = candidates.find(
      (c) => !path.includes(c) && c !== current && current.checkIssued(c) && current.verify(c.publicKey)
    );
    if (!issuer) {
      throw rejected(
        path.length === 0
          ? `the parent certificate (${current.issuer.replace(/\n/g, ', ')}) is missing from the chain or its signature does not verify`
          : `the chain ends at ${current.subject.replace(/\n/g, ', ')}, which is not a self-signed root`,
        { missingIssuer: current.issuer.replace(/\n/g, ', ') }
      );
    }
    const name = issuer.subject.replace(/\n/g, ', ');
    if (!issuer.ca) throw rejected(`chain certificate ${name} is not a CA`);
    const issuerUsage = keyUsageBits(issuer.raw);
    if (issuerUsage !== null && !issuerUsage.has(5))
      throw rejected(`chain certificate ${name} may not sign certificates`);
    if (!validAt(issuer, opts.now)) throw rejected(`chain certificate ${name} is not valid now`);
    const pathLength = pathLengthOf(issuer);
    // Below this issuer come path.length + 1 CA certificates (ours included): all are intermediates for the
    // end-entity certificates this CA will sign, so all count against the issuer's pathLenConstraint.
    if (pathLength !== undefined && path.length + 1 > pathLength) {
      throw rejected(`chain certificate ${name} has pathLenConstraint ${pathLength}, too small for this CA`);
    }
    path.push(issuer);
    if (isSelfSigned(issuer)) break;
    current = issuer;
  }

  const summary = summarizeCertificate(cert.raw);
  return {
    certificatePem: encodePem('CERTIFICATE', cert.raw),
    chainPem: path.map((c) => encodePem('CERTIFICATE', c.raw)),
    subject: summary.subject,
    serial: summary.serial.toUpperCase().replace(/^0+(?=.)/, ''),
    notBefore: new Date(summary.notBefore),
    notAfter: new Date(summary.notAfter),
    sha256: summary.sha256,
  };
}
