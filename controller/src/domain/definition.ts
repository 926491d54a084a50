import { z } from 'zod';
import { absolutePathSchema, keySpecSchema } from '@certfleet/shared';

/**
 * Certificate Definition (SPEC R1, manual §2.3): the requirement for one server certificate.
 * Pure types and rules; storage and transport map to and from these shapes.
 */
export const operationModes = ['managed', 'monitored'] as const;
export type OperationMode = (typeof operationModes)[number];
export const processModes = ['interactive', 'unattended'] as const;
export type ProcessMode = (typeof processModes)[number];

const dnsLabel = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
/** RFC 1123 host name; a wildcard is allowed only as the whole left-most label. */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.replace(/\.$/, '').split('.');
  return labels.every((l, i) => (i === 0 && l === '*' && labels.length > 2) || dnsLabel.test(l));
}

export const subjectSchema = z
  .object({
    commonName: z.string().min(1).max(64).describe('CN'),
    organization: z.string().min(1).max(64).optional().describe('O'),
    organizationalUnit: z.string().min(1).max(64).optional().describe('OU'),
    locality: z.string().min(1).max(128).optional().describe('L'),
    state: z.string().min(1).max(128).optional().describe('ST'),
    country: z
      .string()
      .regex(/^[A-Z]{2}$/, 'country must be a two-letter ISO 3166 code')
      .optional()
      .describe('C'),
  })
  .strict();
export type Subject = z.infer<typeof subjectSchema>;

export const sanSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('dns'), value: z.string().refine(isDnsName, 'not a valid DNS name') }).strict(),
  z.object({ type: z.literal('ip'), value: z.union([z.ipv4(), z.ipv6()]) }).strict(),
  z.object({ type: z.literal('email'), value: z.email() }).strict(),
  z.object({ type: z.literal('uri'), value: z.url() }).strict(),
]);
export type San = z.infer<typeof sanSchema>;

export const productRequirementsSchema = z
  .object({
    validationLevel: z.enum(['DV', 'OV', 'EV']).optional(),
    wildcard: z.boolean().optional(),
    multiDomain: z.boolean().optional(),
    maxValidityDays: z.number().int().positive().optional(),
  })
  .strict();

/** A deploy target placeholder (SPEC D1); the agents issue fills in delivery. */
export const deployTargetSchema = z
  .object({
    serverName: z.string().min(1).max(255),
    serverType: z.enum([
      'nginx',
      'apache',
      'haproxy',
      'postfix',
      'dovecot',
      'file-command',
      'java-keystore',
      'this-controller',
    ]),
    checkHost: z.string().min(1).max(255).optional(),
    checkPort: z.number().int().min(1).max(65535).optional(),
    /**
     * How the certificate reaches the server (SPEC D1): `agent` (an enrolled agent installs it), `offline` (a
     * passphrase-sealed bundle carried to the host) or `manual` (a package for the administrator). Absent means
     * `agent` when `agentId` is set, otherwise `manual`.
     */
    method: z.enum(['agent', 'offline', 'manual']).optional(),
    /** The agent that serves this install server. */
    agentId: z.uuid().optional(),
    /** Live directory on the server the agent switches atomically (e.g. /etc/certfleet/live/www.example.com). */
    directory: absolutePathSchema.optional(),
    /** STARTTLS dialect for the post-install probe of mail servers. */
    starttls: z.enum(['smtp', 'imap', 'pop3']).optional(),
    /** java-keystore targets: the keystore written next to the PEM files. */
    keystore: z
      .object({ format: z.enum(['pkcs12', 'jks']), alias: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/) })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((t, c) => {
    // Issued at the missing field's path so that forms can show the problem next to that field.
    if (t.method !== 'agent') return;
    if (t.agentId === undefined) {
      c.addIssue({ code: 'custom', path: ['agentId'], message: 'an agent target needs an agent (agentId)' });
    }
    if (t.directory === undefined) {
      c.addIssue({ code: 'custom', path: ['directory'], message: 'an agent target needs a directory' });
    }
  });
export type DeployTarget = z.infer<typeof deployTargetSchema>;

/** Fields an operator supplies to create a definition. */
export const definitionInputSchema = z
  .object({
    name: z.string().min(1).max(200),
    subject: subjectSchema,
    sans: z.array(sanSchema).max(100).default([]),
    keySpec: keySpecSchema.default('EC-P256'),
    productId: z.string().min(1).max(100).nullable().default(null),
    requirements: productRequirementsSchema.nullable().default(null),
    issuerType: z.string().min(1).max(50).default('internal-ca'),
    issuerConfig: z
      .record(z.string(), z.unknown())
      .default({})
      .describe("the issuer's own options, validated by the issuer plugin"),
    providerAccountId: z.uuid().nullable().default(null),
    deployTargets: z.array(deployTargetSchema).max(100).default([]),
    operationMode: z.enum(operationModes).default('managed'),
    processMode: z.enum(processModes).default('unattended'),
    renewalLeadDays: z.number().int().min(1).max(365).default(60),
    trustedCaSetId: z.string().min(1).max(100).nullable().default(null),
  })
  .strict();
export type DefinitionInput = z.infer<typeof definitionInputSchema>;
export const definitionPatchSchema = definitionInputSchema.partial().strict();
export type DefinitionPatch = z.infer<typeof definitionPatchSchema>;

export interface CertificateDefinition extends DefinitionInput {
  id: string;
  clonedFromId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A definition's subject and SANs must agree: the CN is covered by a SAN when any DNS SAN is given. */
export function definitionProblems(input: DefinitionInput): string[] {
  const problems: string[] = [];
  const dns = input.sans.filter((s) => s.type === 'dns').map((s) => s.value.toLowerCase());
  if (dns.length > 0 && isDnsName(input.subject.commonName) && !dns.includes(input.subject.commonName.toLowerCase())) {
    problems.push(`subject.commonName ${input.subject.commonName} is not among the DNS SANs`);
  }
  const seen = new Set<string>();
  for (const s of input.sans) {
    const k = `${s.type}:${s.value.toLowerCase()}`;
    if (seen.has(k)) problems.push(`duplicate SAN ${k}`);
    seen.add(k);
  }
  return problems;
}

/** The copy made by "clone" (SPEC R1): same requirement, new name, no certificates or requests. */
export function cloneDefinitionInput(source: CertificateDefinition, name: string): DefinitionInput {
  const { id: _id, clonedFromId: _c, createdAt: _a, updatedAt: _u, ...rest } = source;
  return { ...structuredClone(rest), name };
}
