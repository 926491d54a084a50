/**
 * PEM files: any mix of certificates (`CERTIFICATE`, `X509 CERTIFICATE`, `TRUSTED CERTIFICATE`), PKCS#7 blocks
 * and one private key as PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`), encrypted
 * PKCS#8 (`ENCRYPTED PRIVATE KEY`) or OpenSSL legacy encryption (`Proc-Type: 4,ENCRYPTED`). Other blocks
 * (`EC PARAMETERS`, `CERTIFICATE REQUEST`, `X509 CRL`, `PUBLIC KEY`…) are ignored.
 */
import { malformed, unsupported } from '../x509/decode-error';
import { encodingOf, parseAsn1 } from '../x509/der';
import { type PemBlock, decodePem, pemTextOf } from '../x509/pem';
import type { ImportOrigin } from './import-error';
import { PKCS7_PEM_LABELS, pkcs7Certificates } from './pkcs7';
import type { EncodedKey, RawMaterial } from './raw-material';

const CERTIFICATE_LABELS: ReadonlySet<string> = new Set(['CERTIFICATE', 'X509 CERTIFICATE']);

/** Extracts certificates and keys from PEM text. */
export function extractPem(input: Buffer, origin: ImportOrigin = 'pem'): RawMaterial {
  const certificates: Buffer[] = [];
  const keys: EncodedKey[] = [];
  for (const block of decodePem(pemTextOf(input))) {
    if (CERTIFICATE_LABELS.has(block.label)) {
      certificates.push(block.der);
    } else if (block.label === 'TRUSTED CERTIFICATE') {
      // OpenSSL appends its trust settings after the certificate.
      certificates.push(encodingOf(parseAsn1(block.der, true)));
    } else if (PKCS7_PEM_LABELS.has(block.label)) {
      certificates.push(...pkcs7Certificates(block.der, origin));
    } else {
      const key = keyFromBlock(block);
      if (key !== undefined) keys.push(key);
    }
  }
  return { certificates, keys };
}

function keyFromBlock(block: PemBlock): EncodedKey | undefined {
  switch (block.label) {
    case 'PRIVATE KEY':
      return { kind: 'pkcs8', der: block.der };
    case 'ENCRYPTED PRIVATE KEY':
      return { kind: 'encrypted-pkcs8', der: block.der };
    case 'RSA PRIVATE KEY':
      return legacyOrPlain(block, 'pkcs1');
    case 'EC PRIVATE KEY':
      return legacyOrPlain(block, 'sec1');
    case 'DSA PRIVATE KEY':
      throw unsupported('DSA private keys are not supported');
    case 'OPENSSH PRIVATE KEY':
      throw unsupported('OpenSSH private keys are not supported (convert with ssh-keygen -p -m PKCS8)');
    default:
      return undefined;
  }
}

function legacyOrPlain(block: PemBlock, inner: 'pkcs1' | 'sec1'): EncodedKey {
  const procType = block.headers.get('Proc-Type');
  if (procType === undefined) return { kind: inner, der: block.der };
  if (!/^4,\s*ENCRYPTED$/.test(procType.trim())) throw malformed(`PEM Proc-Type "${procType}" is not supported`);
  const dekInfo = block.headers.get('DEK-Info');
  if (dekInfo === undefined) throw malformed('PEM Proc-Type ENCRYPTED without DEK-Info');
  return { kind: 'legacy-encrypted', inner, dekInfo, ciphertext: block.der };
}
