/**
 * Offline install receipts (SPEC D3): after installing a passphrase-sealed bundle, the offline installer writes a
 * receipt signed with the Ed25519 key the bundle carried (`receipt.key`). The controller kept the public half when
 * it made the bundle, so an uploaded receipt proves that this bundle was opened and tells what was served.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { CertFleetError } from '../errors';

/** The bundle file holding the receipt signing key (PKCS#8 PEM, mode 0600); never installed into a server. */
export const RECEIPT_KEY_FILE = 'receipt.key';

export const receiptSchema = z
  .object({
    v: z.literal(1),
    bundleId: z.uuid(),
    slot: z.string().min(1).max(100),
    version: z.number().int().positive(),
    status: z.enum(['installed', 'failed']),
    reason: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,99}$/),
    message: z.string().max(8000),
    /** SHA-256 (hex) of the leaf the local probe saw served; empty when no probe ran. */
    servedSha256: z.union([z.literal(''), z.string().regex(/^[0-9a-f]{64}$/)]),
    rolledBack: z.boolean(),
    installedAt: z.iso.datetime({ offset: true }),
    hostname: z.string().min(1).max(253),
  })
  .strict();
export type Receipt = z.infer<typeof receiptSchema>;

export const signedReceiptSchema = z
  .object({
    receipt: z.string().min(2).max(16_384).describe('the receipt as canonical JSON text (what was signed)'),
    signature: z.base64().max(200),
  })
  .strict();
export type SignedReceipt = z.infer<typeof signedReceiptSchema>;

/** Signs a receipt; the JSON text is signed as is, so the verifier checks exactly those bytes. */
export function signReceipt(receipt: Receipt, privateKeyPem: string | Buffer): SignedReceipt {
  const text = JSON.stringify(receiptSchema.parse(receipt));
  const signature = crypto.sign(null, Buffer.from(text, 'utf8'), crypto.createPrivateKey(privateKeyPem));
  return { receipt: text, signature: signature.toString('base64') };
}

/** Verifies a signed receipt with the public key the controller kept. @throws CF_RECEIPT_INVALID */
export function verifyReceipt(raw: unknown, publicKeyPem: string): Receipt {
  const doc = signedReceiptSchema.safeParse(raw);
  if (!doc.success) throw new CertFleetError('CF_RECEIPT_INVALID', 'receipt: not a signed receipt document');
  let ok = false;
  try {
    ok = crypto.verify(
      null,
      Buffer.from(doc.data.receipt, 'utf8'),
      crypto.createPublicKey(publicKeyPem),
      Buffer.from(doc.data.signature, 'base64')
    );
  } catch {
    ok = false;
  }
  if (!ok)
    throw new CertFleetError('CF_RECEIPT_INVALID', 'receipt: signature does not verify with the key of this bundle');
  let json: unknown;
  try {
    json = JSON.parse(doc.data.receipt);
  } catch {
    throw new CertFleetError('CF_RECEIPT_INVALID', 'receipt: signed text is not JSON');
  }
  const parsed = receiptSchema.safeParse(json);
  if (!parsed.success) throw new CertFleetError('CF_RECEIPT_INVALID', 'receipt: fields are invalid');
  return parsed.data;
}

/** A new receipt key pair: private PKCS#8 PEM for the bundle, public SPKI PEM for the controller. */
export function generateReceiptKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
