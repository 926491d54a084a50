/**
 * Private CA: bulk issuance of server certificates (SPEC C2, R3, R4; issue 3 "Performance").
 *
 * `issueBatch` issues many server certificates from one active CA end to end, as the repository needs them:
 * for every certificate a fresh EC key (P-256 by default), a certificate from the template signer
 * (issuers/internal-ca/template-signer.ts: same certificate as `issueServerCertificate`, native DER + signing),
 * the private key sealed under the master key exactly as `storePrivateKey` seals it (AES-256-GCM envelope bound
 * to `private_keys.sealed` and the row id), and these rows:
 *
 * - `private_keys`: the sealed key (label = the definition name, exportable, as the acquisition process stores it);
 * - `certificate_definitions`: **one definition per certificate**, named after the certificate (or the item's
 *   `definitionName`), internal-ca issuer, managed + unattended, the certificate's subject and SANs, no deploy
 *   targets. This is what onboarding a fleet of N services looks like: every service then has a managed
 *   definition that the renewal job picks up, instead of N certificates piled under one definition of which only
 *   one could be current;
 * - `certificates`: current (`is_current`) certificate of its definition, source `internal-ca`, chain = the CA
 *   chain; subject/issuer/serial/fingerprints/SANs exactly as `summarizeCertificate` gives them;
 * - `ca_issuances`: the CA's issuance register row, linked to the certificate (revocation, CRLs);
 * - `audit_log`: one `ca.certificates-bulk-issued` event per batch (count, serial range, key spec).
 *
 * Each batch (default 200) is one transaction with one multi-row `INSERT … SELECT FROM unnest(…)` per table:
 * a batch is all there or not at all. Input problems (bad names, duplicates, taken definition names) are found
 * before anything is issued; a failure during the run stops it after the batches already committed (the error's
 * `details.issued` says how many).
 *
 * CPU work (key generation, signing, sealing, hashing) runs in a small pool of worker threads when the run is big
 * enough to pay for starting them (`workers`, default: up to 2 for ≥ 2,000 certificates) and otherwise on the main
 * thread in slices of 16 certificates separated by `setImmediate`, so the event loop stays responsive either way.
 * Keys come from OpenSSL through `crypto.createECDH(...).generateKeys()` (the same EC_KEY generation as
 * `generateKeyPair('ec')`); their SPKI and PKCS#8 DER are spliced from fixed templates, since asking OpenSSL 3 to
 * encode them costs 50–110 µs per key. Workers hold the CA private key and the master key (cloned into the worker's
 * memory, inside this process) for the duration of the run; they are terminated at its end.
 */
import { X509Certificate, createECDH, createHash, randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { z } from 'zod';
import { CertFleetError, encodePem, isCertFleetError, summarizeCertificate } from '@certfleet/shared';
import type { CertificateAuthority } from '../../domain/certificate-authority';
import { der } from '../../issuers/internal-ca/der-writer';
import { isDnsName } from '../../domain/definition';
import {
  createTemplateSigner,
  ecSpki,
  prepareServerRequest,
  templateSignerFromSpec,
  type PreparedServerRequest,
  type PreparedValidity,
  type TemplateSigner,
  type TemplateSignerSpec,
} from '../../issuers/internal-ca/template-signer';
import { seal } from '../../secrets/envelope';
import type { MasterKey } from '../../secrets/master-key';
import { SEALED_COLUMNS, sealContext } from '../../secrets/sealed-columns';
import type { Knex } from '@mikro-orm/postgresql';
import type { Em } from '../../storage/database';
import type * as AuditService from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import type * as CaStore from './ca-store';

/**
 * The repository-side modules, required on first use rather than imported: worker threads load this file too and
 * need none of them (MikroORM and the entities cost ≈ 0.25 s of start-up per worker).
 */
function repository(): { caStore: typeof CaStore; audit: typeof AuditService } {
  return {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    caStore: require('./ca-store') as typeof CaStore,
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    audit: require('../audit-service') as typeof AuditService,
  };
}

/** Parses with `schema` or throws CF_VALIDATION naming every problem (as definition-service's parseInput). */
function parseInput<T extends z.ZodType>(schema: T, raw: unknown, origin: string): z.infer<T> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw new CertFleetError('CF_VALIDATION', `${origin}: ${problems.join('; ')}`, { details: { problems } });
}

// ---------------------------------------------------------------------------------------------------------------
// Input

/** One certificate to issue: its subject and SANs (default: one DNS SAN equal to the common name). */
export const bulkItemSchema = z
  .object({
    commonName: z.string().min(1).max(64),
    /** Checked and normalised as issueServerCertificate does (DNS lower-cased, IPs canonical, duplicates dropped). */
    sans: z
      .array(z.object({ type: z.enum(['dns', 'ip']), value: z.string() }).strict())
      .min(1)
      .max(100)
      .optional(),
    organization: z.string().min(1).max(64).optional(),
    organizationalUnit: z.string().min(1).max(64).optional(),
    country: z.string().optional(),
    locality: z.string().min(1).max(128).optional(),
    state: z.string().min(1).max(128).optional(),
    /** Name of the definition created for this certificate; default: the common name. */
    definitionName: z.string().trim().min(1).max(200).optional(),
  })
  .strict();
export type BulkIssueItem = z.input<typeof bulkItemSchema>;

/**
 * What to issue: a list of items, or `count` synthetic ones named by `commonNamePattern` (`{n}` = 1-based index,
 * `{run}` = 8 random hex digits per call; default `bulk-{run}-{n}.certfleet.internal`).
 */
export type BulkIssueInput = { items: BulkIssueItem[] } | { count: number; commonNamePattern?: string };

export const MAX_BULK_CERTIFICATES = 1_000_000;
/** From this many certificates on, worker threads may pay for their start-up (≈ 0.3 s each). */
export const AUTO_WORKERS_FROM = 2000;

/**
 * Default worker threads: none on machines with 2 cores or fewer, where the main thread plus PostgreSQL already
 * use both cores and workers measurably slow issuance down (bench/README.md); otherwise one per core beyond the
 * first two, at most 4, for runs of at least {@link AUTO_WORKERS_FROM} certificates.
 */
export function defaultWorkers(count: number, cores = os.availableParallelism()): number {
  if (count < AUTO_WORKERS_FROM || cores <= 2) return 0;
  return Math.min(4, cores - 2);
}

const inputSchema = z.union([
  z.object({ items: z.array(z.unknown()).min(1).max(MAX_BULK_CERTIFICATES) }).strict(),
  z
    .object({
      count: z.number().int().min(1).max(MAX_BULK_CERTIFICATES),
      commonNamePattern: z
        .string()
        .min(1)
        .max(64)
        .refine((p) => p.includes('{n}'), 'must contain {n}')
        .optional(),
    })
    .strict(),
]);

export const bulkOptionsSchema = z
  .object({
    /** CA id or `active`; the CA must be active. */
    ca: z.union([z.uuid(), z.literal('active')]).default('active'),
    keySpec: z.enum(['EC-P256', 'EC-P384']).default('EC-P256'),
    validityDays: z.number().int().min(1).max(825).default(397),
    renewalLeadDays: z.number().int().min(1).max(365).default(60),
    /** Certificates per transaction. */
    batchSize: z.number().int().min(1).max(1000).default(200),
    /** Batches in flight (signing of the next ones overlaps the inserts of the previous ones). */
    concurrency: z.number().int().min(1).max(16).default(2),
    /** Worker threads for the CPU work; 0 = main thread (in slices); default: auto (see module doc). */
    workers: z.number().int().min(0).max(16).optional(),
    actor: z.string().min(1).max(200).default('system'),
  })
  .strict();
export type BulkIssueOptions = z.input<typeof bulkOptionsSchema> & {
  /** Stops the run between batches (batches already committed stay); the call then rejects with its reason. */
  signal?: AbortSignal;
  /** Called after each committed batch. */
  onProgress?: (progress: { issued: number; total: number }) => void;
};

export interface BulkIssuedCertificate {
  certificateId: string;
  definitionId: string;
  privateKeyId: string;
  /** Upper-case hex, as in ca_issuances. */
  serial: string;
  commonName: string;
}

export interface BulkIssueResult {
  caId: string;
  issued: number;
  batches: number;
  /** In input order. */
  certificates: BulkIssuedCertificate[];
  /** How the CPU work ran: worker threads used (0 = main thread). */
  workers: number;
  durationMs: number;
}

interface PlannedItem {
  request: PreparedServerRequest;
  definitionName: string;
  /** JSON of the definition's subject and SANs (definition vocabulary). */
  subjectJson: string;
  sansJson: string;
  /** `CN=…, O=…` as summarizeCertificate formats it. */
  subjectText: string;
  sanTexts: string[];
}

/** RFC 4514 escaping exactly as @certfleet/shared's name formatter (what summarizeCertificate stores). */
function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (
      ',+"\\<>;'.includes(ch) ||
      (i === 0 && (ch === '#' || ch === ' ')) ||
      (i === value.length - 1 && ch === ' ')
    )
      out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

const RDN_TEXT = [
  ['commonName', 'CN'],
  ['organizationalUnit', 'OU'],
  ['organization', 'O'],
  ['locality', 'L'],
  ['state', 'ST'],
  ['country', 'C'],
] as const;

function subjectText(subject: PreparedServerRequest['subject']): string {
  const parts: string[] = [];
  for (const [field, short] of RDN_TEXT) {
    const v = subject[field];
    if (v !== undefined) parts.push(`${short}=${escapeDnValue(v)}`);
  }
  return parts.join(', ');
}

function invalidInput(message: string, details?: Record<string, unknown>): never {
  throw new CertFleetError('CF_VALIDATION', `ca.bulk-issue: ${message}`, details ? { details } : {});
}

/** Validates every item up front (nothing is issued when one is bad), yielding to the event loop as it goes. */
async function planItems(input: BulkIssueInput): Promise<PlannedItem[]> {
  const parsed = parseInput(inputSchema, input, 'ca.bulk-issue');
  let raw: unknown[];
  if ('items' in parsed) raw = parsed.items;
  else {
    const run = randomBytes(4).toString('hex');
    const pattern = (parsed.commonNamePattern ?? 'bulk-{run}-{n}.certfleet.internal').split('{run}').join(run);
    raw = Array.from({ length: parsed.count }, (_, i) => ({ commonName: pattern.split('{n}').join(String(i + 1)) }));
  }
  const planned: PlannedItem[] = [];
  const names = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    if (i > 0 && i % 1000 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const item = bulkItemSchema.safeParse(raw[i]);
    if (!item.success) {
      const problems = item.error.issues.map((p) => `items.${i}.${p.path.join('.')}: ${p.message}`);
      invalidInput(problems.join('; '), { index: i, problems });
    }
    const { commonName, sans, definitionName, ...rest } = item.data;
    let request: PreparedServerRequest;
    try {
      request = prepareServerRequest({
        subject: { commonName, ...rest },
        sans: sans ?? [{ type: 'dns', value: commonName }],
      });
    } catch (err) {
      if (isCertFleetError(err)) {
        throw new CertFleetError('CF_VALIDATION', `ca.bulk-issue: item ${i}: ${err.message}`, {
          details: { index: i, ...(err.details ?? {}) },
          cause: err,
        });
      }
      throw err;
    }
    // As a definition requires: a DNS-like common name is among the DNS SANs when there are any.
    const cn = request.subject.commonName;
    const dns = request.sans.filter((s) => s.type === 'dns').map((s) => s.value);
    if (dns.length > 0 && isDnsName(cn) && !dns.includes(cn.toLowerCase())) {
      invalidInput(`item ${i}: commonName ${commonName} is not among the DNS SANs`, { index: i });
    }
    const name = definitionName ?? request.subject.commonName;
    if (names.has(name)) invalidInput(`item ${i}: definition name ${JSON.stringify(name)} appears twice`, { index: i });
    names.add(name);
    planned.push({
      request,
      definitionName: name,
      subjectJson: JSON.stringify(request.subject),
      sansJson: JSON.stringify(request.sans),
      subjectText: subjectText(request.subject),
      sanTexts: request.sans.map((s) => (s.type === 'dns' ? `DNS:${s.value}` : `IP:${s.value}`)),
    });
  }
  return planned;
}

// ---------------------------------------------------------------------------------------------------------------
// CPU work: key generation, signing, sealing (main thread or worker threads)

const EC_CURVES = {
  'EC-P256': { curve: 'prime256v1', oid: '1.2.840.10045.3.1.7', scalar: 32, point: 65 },
  'EC-P384': { curve: 'secp384r1', oid: '1.3.132.0.34', scalar: 48, point: 97 },
} as const;
type BulkKeySpec = keyof typeof EC_CURVES;

/**
 * PKCS#8 `PrivateKeyInfo` of an EC key as OpenSSL writes it (RFC 5208/5915: ecPublicKey + named curve, then
 * ECPrivateKey v1 { privateKey, [1] publicKey }) split around the two variable parts: prefix | d | middle | point.
 */
function pkcs8Template(spec: BulkKeySpec): { prefix: Buffer; middle: Buffer } {
  const c = EC_CURVES[spec];
  const d = Buffer.alloc(c.scalar, 0x11);
  const point = Buffer.alloc(c.point, 0x04);
  const full = der.sequence(
    der.integer(0),
    der.sequence(der.oid('1.2.840.10045.2.1'), der.oid(c.oid)),
    der.octetString(der.sequence(der.integer(1), der.octetString(d), der.explicit(1, der.bitString(point))))
  );
  const dAt = full.indexOf(d);
  const pointAt = full.length - c.point;
  return { prefix: full.subarray(0, dAt), middle: full.subarray(dAt + c.scalar, pointAt) };
}

/** A fresh EC key as DER: SPKI (for the certificate) and PKCS#8 (to be sealed). */
export interface EcKeyDer {
  spki: Buffer;
  point: Buffer;
  pkcs8: Buffer;
}

/**
 * Generates EC keys with OpenSSL (one ECDH context per curve, reused) and encodes them from templates.
 * The PKCS#8 it returns is what `createPrivateKey` reads; callers wipe it after sealing.
 */
export function ecKeyGenerator(spec: BulkKeySpec): () => EcKeyDer {
  const c = EC_CURVES[spec];
  const ecdh = createECDH(c.curve);
  const { prefix, middle } = pkcs8Template(spec);
  return () => {
    ecdh.generateKeys();
    let d = ecdh.getPrivateKey();
    if (d.length < c.scalar) d = Buffer.concat([Buffer.alloc(c.scalar - d.length), d]); // OpenSSL drops leading zeros
    const point = ecdh.getPublicKey();
    const pkcs8 = Buffer.concat([prefix, d, middle, point], prefix.length + c.scalar + middle.length + c.point);
    d.fill(0);
    return { spki: ecSpki(spec, point), point, pkcs8 };
  };
}

/** What one issued certificate contributes to the rows (everything but the per-item constants). */
interface IssuedRow {
  keyId: string;
  definitionId: string;
  certificateId: string;
  issuanceId: string;
  publicKeySha256: string;
  publicKeyPem: string;
  sealed: Buffer;
  certificatePem: string;
  sha1: string;
  sha256: string;
  /** Upper-case hex (ca_issuances); certificates.serial is its lower-case form. */
  serial: string;
}

interface ChunkJob {
  requests: PreparedServerRequest[];
  validity: PreparedValidity;
}

interface ChunkWorkerState {
  signer: TemplateSigner;
  kek: MasterKey;
  newKey: () => EcKeyDer;
  keySpec: BulkKeySpec;
}

function issueOne(state: ChunkWorkerState, request: PreparedServerRequest, validity: PreparedValidity): IssuedRow {
  const key = state.newKey();
  const issued = state.signer.issuePrepared(
    request,
    { spki: key.spki, publicKeyBits: key.point, keySpec: state.keySpec },
    validity
  );
  const keyId = randomUUID();
  const sealed = seal(state.kek, sealContext(SEALED_COLUMNS.privateKey, keyId), key.pkcs8);
  key.pkcs8.fill(0);
  return {
    keyId,
    definitionId: randomUUID(),
    certificateId: randomUUID(),
    issuanceId: randomUUID(),
    publicKeySha256: createHash('sha256').update(key.spki).digest('hex'),
    publicKeyPem: encodePem('PUBLIC KEY', key.spki),
    sealed,
    certificatePem: issued.certificatePem,
    sha1: createHash('sha1').update(issued.der).digest('hex'),
    sha256: createHash('sha256').update(issued.der).digest('hex'),
    serial: issued.serial,
  };
}

/** Runs chunks of CPU work somewhere; `close` releases what it holds. */
interface CryptoEngine {
  readonly workers: number;
  run(job: ChunkJob): Promise<IssuedRow[]>;
  close(): Promise<void>;
}

/** Longest stretch of CPU work on the main thread before yielding to the event loop. */
const SLICE_MS = 1;

/**
 * Main-thread engine: one job at a time (the batches in flight only overlap their database work with it), each
 * cut into ≈ 1 ms slices separated by `setImmediate`, so timers and I/O get a turn at least every millisecond or so
 * whatever the number of batches in flight.
 */
function inlineEngine(state: ChunkWorkerState): CryptoEngine {
  let queue: Promise<unknown> = Promise.resolve();
  const yieldToLoop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));
  const runJob = async (job: ChunkJob): Promise<IssuedRow[]> => {
    const out: IssuedRow[] = [];
    let sliceStart = performance.now();
    for (const request of job.requests) {
      if (performance.now() - sliceStart >= SLICE_MS) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
      out.push(issueOne(state, request, job.validity));
    }
    return out;
  };
  return {
    workers: 0,
    run(job) {
      const result = queue.then(() => runJob(job));
      queue = result.catch(() => undefined);
      return result;
    },
    close: async () => {
      await queue;
    },
  };
}

const WORKER_TAG = 'certfleet.bulk-issuance.v1';

interface WorkerInit {
  tag: typeof WORKER_TAG;
  entry: string;
  tsx: string | null;
  spec: TemplateSignerSpec;
  kek: MasterKey;
  keySpec: BulkKeySpec;
}

type WorkerReply = { id: number; rows: IssuedRow[] } | { id: number; error: { message: string; code?: string } };

/** Worker side: builds its own signer from the spec and answers jobs. */
function runWorker(init: WorkerInit): void {
  const state: ChunkWorkerState = {
    signer: templateSignerFromSpec(init.spec),
    // Cloned across the thread boundary: the key arrives as a plain Uint8Array.
    kek: { id: init.kek.id, key: Buffer.from(init.kek.key) },
    newKey: ecKeyGenerator(init.keySpec),
    keySpec: init.keySpec,
  };
  parentPort!.on('message', (msg: { id: number; job: ChunkJob }) => {
    let reply: WorkerReply;
    try {
      const v = msg.job.validity;
      const validity: PreparedValidity = { ...v, der: Buffer.from(v.der.buffer, v.der.byteOffset, v.der.byteLength) };
      reply = { id: msg.id, rows: msg.job.requests.map((r) => issueOne(state, r, validity)) };
    } catch (err) {
      const e = err as Error & { code?: string };
      reply = { id: msg.id, error: { message: e.message, ...(e.code ? { code: e.code } : {}) } };
    }
    parentPort!.postMessage(reply);
  });
  parentPort!.postMessage({ ready: true });
}

if (!isMainThread && (workerData as Partial<WorkerInit> | null)?.tag === WORKER_TAG)
  runWorker(workerData as WorkerInit);

/** The worker bootstrap: registers tsx when we run from TypeScript sources, then loads this module. */
const WORKER_BOOT = `
const { workerData } = require('node:worker_threads');
if (workerData.tsx) require(workerData.tsx).register();
require(workerData.entry);
`;

async function workerEngine(
  size: number,
  spec: TemplateSignerSpec,
  kek: MasterKey,
  keySpec: BulkKeySpec
): Promise<CryptoEngine> {
  const init: WorkerInit = {
    tag: WORKER_TAG,
    entry: __filename,
    tsx: __filename.endsWith('.ts') ? require.resolve('tsx/cjs/api') : null,
    spec,
    kek,
    keySpec,
  };
  const workers: Worker[] = [];
  const pending = new Map<
    number,
    { resolve: (rows: IssuedRow[]) => void; reject: (err: Error) => void; worker: Worker }
  >();
  const load = new Map<Worker, number>();
  let nextId = 1;
  const failAll = (worker: Worker, err: Error): void => {
    for (const [id, p] of pending) {
      if (p.worker !== worker) continue;
      pending.delete(id);
      p.reject(err);
    }
  };
  try {
    await Promise.all(
      Array.from({ length: size }, async () => {
        const worker = new Worker(WORKER_BOOT, { eval: true, workerData: init });
        workers.push(worker);
        load.set(worker, 0);
        await new Promise<void>((resolve, reject) => {
          const onExit = (code: number): void => reject(new Error(`worker exited with code ${code} while starting`));
          const onReady = (): void => {
            // Only our own start-up listeners: Worker keeps internal ones that deliver messages.
            worker.off('error', reject);
            worker.off('exit', onExit);
            resolve();
          };
          worker.once('error', reject);
          worker.once('exit', onExit);
          worker.once('message', onReady);
        });
        worker.on('message', (reply: WorkerReply) => {
          const p = pending.get(reply.id);
          if (!p) return;
          pending.delete(reply.id);
          load.set(worker, (load.get(worker) ?? 1) - 1);
          if ('rows' in reply) {
            // Structured clone turns Buffers into plain Uint8Arrays; pg only serialises real Buffers as bytea.
            for (const row of reply.rows)
              row.sealed = Buffer.from(row.sealed.buffer, row.sealed.byteOffset, row.sealed.byteLength);
            p.resolve(reply.rows);
          } else
            p.reject(
              new CertFleetError((reply.error.code as 'CF_INTERNAL' | undefined) ?? 'CF_INTERNAL', reply.error.message)
            );
        });
        worker.on('error', (err) => failAll(worker, err));
        worker.on('exit', (code) => failAll(worker, new Error(`bulk-issuance worker exited with code ${code}`)));
      })
    );
  } catch (err) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw new CertFleetError('CF_INTERNAL', `ca.bulk-issue: cannot start worker threads: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    workers: size,
    run(job) {
      // Least-loaded worker: batches are equal in size, so this is round-robin in practice.
      let best = workers[0]!;
      for (const w of workers) if ((load.get(w) ?? 0) < (load.get(best) ?? 0)) best = w;
      load.set(best, (load.get(best) ?? 0) + 1);
      const id = nextId++;
      return new Promise<IssuedRow[]>((resolve, reject) => {
        pending.set(id, { resolve, reject, worker: best });
        best.postMessage({ id, job });
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Rows

interface BatchContext {
  ca: CertificateAuthority;
  keySpec: BulkKeySpec;
  issuerText: string;
  chainJson: string;
  renewalLeadDays: number;
  actor: Actor;
}

const INSERT_KEYS = `insert into private_keys (id, algorithm, public_key_sha256, public_key_pem, sealed, exportable, label, created_at)
select t.id, ?, t.fp, t.pem, t.sealed, true, t.label, ?
from unnest(?::uuid[], ?::text[], ?::text[], ?::bytea[], ?::text[]) as t(id, fp, pem, sealed, label)`;

const INSERT_DEFINITIONS = `insert into certificate_definitions (id, name, subject, sans, key_spec, product_id, requirements, issuer_type,
  issuer_config, provider_account_id, deploy_targets, operation_mode, process_mode, renewal_lead_days, trusted_ca_set_id,
  cloned_from_id, created_at, updated_at)
select t.id, t.name, t.subject::jsonb, t.sans::jsonb, ?, null, null, 'internal-ca', '{}'::jsonb, null, '[]'::jsonb,
  'managed', 'unattended', ?, null, null, ?, ?
from unnest(?::uuid[], ?::text[], ?::text[], ?::text[]) as t(id, name, subject, sans)`;

const INSERT_CERTIFICATES = `insert into certificates (id, definition_id, request_id, private_key_id, pem, chain_pem, sha1, sha256, serial,
  subject, issuer, not_before, not_after, key_algorithm, sans, is_current, source, created_at)
select t.id, t.def, null, t.key, t.pem, ?::jsonb, t.sha1, t.sha256, t.serial, t.subject, ?, ?, ?, ?, t.sans::jsonb, true,
  'internal-ca', ?
from unnest(?::uuid[], ?::uuid[], ?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
  as t(id, def, key, pem, sha1, sha256, serial, subject, sans)`;

/** From the certificates just inserted: the PEM, subject and fingerprint are not sent twice. */
const INSERT_ISSUANCES = `insert into ca_issuances (id, ca_id, serial, kind, subject, sha256, not_before, not_after, certificate_id,
  username, pem, revoked_at, revocation_reason, issued_at)
select t.id, ?, t.serial, 'server', c.subject, c.sha256, c.not_before, c.not_after, c.id, null, c.pem, null, null, ?
from unnest(?::uuid[], ?::uuid[], ?::text[]) as t(id, cert, serial) join certificates c on c.id = t.cert`;

async function writeBatch(
  em: Em,
  bc: BatchContext,
  items: PlannedItem[],
  rows: IssuedRow[],
  validity: PreparedValidity,
  now: Date,
  batchNo: number
): Promise<void> {
  const n = rows.length;
  const col = <T>(f: (row: IssuedRow, i: number) => T): T[] => {
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = f(rows[i]!, i);
    return out;
  };
  const itemCol = <T>(f: (item: PlannedItem) => T): T[] => {
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = f(items[i]!);
    return out;
  };
  const keyIds = col((r) => r.keyId);
  const defIds = col((r) => r.definitionId);
  const certIds = col((r) => r.certificateId);
  const pems = col((r) => r.certificatePem);
  const sha256s = col((r) => r.sha256);
  const subjects = itemCol((it) => it.subjectText);
  const names = itemCol((it) => it.definitionName);
  // Through knex, not em.getConnection().execute(): MikroORM inlines parameters as SQL literals (arrays become
  // comma lists); knex passes them to pg as real parameters ($n), arrays included.
  const trx = em.getTransactionContext<Knex.Transaction>();
  if (!trx) throw new CertFleetError('CF_INTERNAL', 'ca.bulk-issue: writeBatch needs a transaction');
  await trx.raw(INSERT_KEYS, [
    bc.keySpec,
    now,
    keyIds,
    col((r) => r.publicKeySha256),
    col((r) => r.publicKeyPem),
    col((r) => r.sealed),
    names,
  ]);
  await trx.raw(INSERT_DEFINITIONS, [
    bc.keySpec,
    bc.renewalLeadDays,
    now,
    now,
    defIds,
    names,
    itemCol((it) => it.subjectJson),
    itemCol((it) => it.sansJson),
  ]);
  await trx.raw(INSERT_CERTIFICATES, [
    bc.chainJson,
    bc.issuerText,
    validity.notBefore,
    validity.notAfter,
    bc.keySpec,
    now,
    certIds,
    defIds,
    keyIds,
    pems,
    col((r) => r.sha1),
    sha256s,
    col((r) => r.serial.toLowerCase()),
    subjects,
    itemCol((it) => JSON.stringify(it.sanTexts)),
  ]);
  await trx.raw(INSERT_ISSUANCES, [bc.ca.id, now, col((r) => r.issuanceId), certIds, col((r) => r.serial)]);
  await repository().audit.appendAudit(
    em,
    {
      actor: bc.actor,
      action: 'ca.certificates-bulk-issued',
      targetType: 'ca',
      targetId: bc.ca.id,
      details: {
        batch: batchNo,
        count: n,
        keySpec: bc.keySpec,
        firstSerial: rows[0]?.serial ?? null,
        lastSerial: rows[n - 1]?.serial ?? null,
      },
    },
    now
  );
}

/** Names already used by definitions (checked before anything is issued). */
async function takenNames(em: Em, names: string[]): Promise<string[]> {
  const taken: string[] = [];
  for (let i = 0; i < names.length; i += 10_000) {
    const result = (await em
      .getKnex()
      .raw('select name from certificate_definitions where name = any(?::text[])', [names.slice(i, i + 10_000)])) as {
      rows: Array<{ name: string }>;
    };
    for (const r of result.rows) taken.push(r.name);
  }
  return taken;
}

/** A batch failure as a CertFleetError: unique violations are conflicts, database trouble is retryable. */
function translateBatchError(err: unknown, issued: number): CertFleetError {
  if (isCertFleetError(err)) return err;
  const e = err as { code?: unknown; constraint?: string; message?: string };
  const message = e.message ?? String(err);
  if (e.code === '23505') {
    return new CertFleetError(
      'CF_CONFLICT',
      `ca.bulk-issue: ${e.constraint ?? 'unique constraint'} violated (${issued} issued before)`,
      {
        details: { issued, constraint: e.constraint ?? null },
        cause: err,
      }
    );
  }
  // SQLSTATEs (five characters) and socket errors (ECONNRESET, …) come from the database connection.
  if (typeof e.code === 'string' && (/^[0-9A-Z]{5}$/.test(e.code) || e.code.startsWith('E'))) {
    return new CertFleetError(
      'CF_DB_UNAVAILABLE',
      `ca.bulk-issue: batch failed: ${message} (${issued} issued before)`,
      {
        details: { issued, sqlState: e.code },
        cause: err,
        retryable: true,
      }
    );
  }
  return new CertFleetError('CF_INTERNAL', `ca.bulk-issue: batch failed: ${message} (${issued} issued before)`, {
    details: { issued },
    cause: err,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The service

/**
 * Issues server certificates in bulk from the active (or given) CA, end to end: key, certificate, sealed key,
 * definition, current certificate and issuance register rows, batch by batch (see the module doc).
 *
 * @throws CertFleetError `CF_VALIDATION` for bad input (nothing issued); `CF_CONFLICT` when a definition name is
 *   taken (nothing issued) or a unique constraint trips during the run; `CF_CA_UNAVAILABLE` without a usable
 *   CA; `CF_DB_UNAVAILABLE` (retryable) when a batch cannot be written. `details.issued` counts what committed.
 * @example
 * const r = await issueBatch(ctx, { items: [{ commonName: 'a.example.com' }, { commonName: 'b.example.com' }] });
 */
export async function issueBatch(
  ctx: ServiceContext,
  input: BulkIssueInput,
  options: BulkIssueOptions = {}
): Promise<BulkIssueResult> {
  const started = performance.now();
  const { signal, onProgress, ...rest } = options;
  const opts = parseInput(bulkOptionsSchema, rest, 'ca.bulk-issue');
  const items = await planItems(input);

  const { resolveCa, signingMaterial, resolveExtensions, chainOf } = repository().caStore;
  const em = ctx.db.em();
  const ca = await resolveCa(em, opts.ca);
  if (ca.status !== 'active' || !ca.certificatePem) {
    throw new CertFleetError(
      'CF_CA_UNAVAILABLE',
      `ca.bulk-issue: CA ${ca.id} is ${ca.status}; only the active CA issues`
    );
  }
  const taken = await takenNames(
    em,
    items.map((it) => it.definitionName)
  );
  if (taken.length) {
    throw new CertFleetError(
      'CF_CONFLICT',
      `ca.bulk-issue: ${taken.length} definition name(s) are taken, e.g. ${JSON.stringify(taken[0])}`,
      {
        details: { taken: taken.slice(0, 20), count: taken.length },
      }
    );
  }
  const material = await signingMaterial(ctx, em, ca);
  const signer = await createTemplateSigner({
    ca: material.loaded,
    extensions: resolveExtensions(ca.extensions ?? {}, ca.id),
  });
  const bc: BatchContext = {
    ca,
    keySpec: opts.keySpec,
    issuerText: summarizeCertificate(new X509Certificate(ca.certificatePem).raw).subject,
    chainJson: JSON.stringify(chainOf(ca)),
    renewalLeadDays: opts.renewalLeadDays,
    actor: opts.actor,
  };

  const workerCount = opts.workers ?? defaultWorkers(items.length);
  const engine =
    workerCount > 0
      ? await workerEngine(workerCount, signer.spec, ctx.masterKey, opts.keySpec)
      : inlineEngine({ signer, kek: ctx.masterKey, newKey: ecKeyGenerator(opts.keySpec), keySpec: opts.keySpec });

  const batches: Array<{ from: number; to: number }> = [];
  for (let from = 0; from < items.length; from += opts.batchSize) {
    batches.push({ from, to: Math.min(items.length, from + opts.batchSize) });
  }
  const issued: BulkIssuedCertificate[] = new Array(items.length);
  let committed = 0;
  let next = 0;
  let failure: CertFleetError | null = null;

  const runBatch = async (batchNo: number): Promise<void> => {
    const { from, to } = batches[batchNo]!;
    const slice = items.slice(from, to);
    const now = ctx.clock.now();
    const validity = signer.validity(now, opts.validityDays);
    const rows = await engine.run({ requests: slice.map((it) => it.request), validity });
    await ctx.db.em().transactional((tem) => writeBatch(tem, bc, slice, rows, validity, now, batchNo));
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      issued[from + i] = {
        certificateId: r.certificateId,
        definitionId: r.definitionId,
        privateKeyId: r.keyId,
        serial: r.serial,
        commonName: slice[i]!.request.subject.commonName,
      };
    }
    committed += rows.length;
    onProgress?.({ issued: committed, total: items.length });
  };

  const lane = async (): Promise<void> => {
    while (failure === null && next < batches.length) {
      if (signal?.aborted) return;
      const batchNo = next++;
      try {
        await runBatch(batchNo);
      } catch (err) {
        failure ??= translateBatchError(err, committed);
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, batches.length) }, lane));
  } finally {
    await engine.close();
  }
  if (failure) throw failure;
  signal?.throwIfAborted();
  return {
    caId: ca.id,
    issued: committed,
    batches: batches.length,
    certificates: issued,
    workers: engine.workers,
    durationMs: performance.now() - started,
  };
}
