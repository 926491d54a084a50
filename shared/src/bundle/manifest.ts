import { z } from 'zod';

/** Named install hooks a bundle may ask for. Never shell text: the agent maps each name to its own fixed action. */
export const BUNDLE_HOOKS = [
  'reload-nginx',
  'reload-apache',
  'reload-haproxy',
  'reload-postfix',
  'reload-dovecot',
  'restart-tomcat',
] as const;
export type BundleHook = (typeof BUNDLE_HOOKS)[number];

/** Entries in the tar besides the listed files. */
export const MANIFEST_ENTRY = 'manifest.json';
export const SIGNATURE_ENTRY = 'manifest.sig';
export const RESERVED_ENTRIES: readonly string[] = [MANIFEST_ENTRY, SIGNATURE_ENTRY];

export const MAX_BUNDLE_FILES = 32;
export const MAX_BUNDLE_PATH_LENGTH = 200;
export const SLOT_PATTERN = /^[a-z0-9][a-z0-9._-]{0,99}$/;

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** A private-key file by its name: `key.pem`, `privkey.pem` or `*.key`. Its mode must not grant group/other access. */
export function isKeyPath(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  return base === 'key.pem' || base === 'privkey.pem' || base.endsWith('.key');
}

/** A certificate file by its name: `cert.pem`, `fullchain.pem`, `*.crt`, `*.cer`. Its first PEM block is the leaf. */
export function isCertPath(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  return base === 'cert.pem' || base === 'fullchain.pem' || base.endsWith('.crt') || base.endsWith('.cer');
}

/** Why a relative bundle path is unsafe, or null. */
export function bundlePathProblem(path: string): string | null {
  if (path.length === 0) return 'empty';
  if (path.length > MAX_BUNDLE_PATH_LENGTH) return `longer than ${MAX_BUNDLE_PATH_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return 'contains control characters or backslashes';
  if (path.startsWith('/')) return 'absolute';
  const parts = path.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return 'has empty, "." or ".." segments';
  if (RESERVED_ENTRIES.includes(path)) return 'reserved name';
  return null;
}

export const bundlePathSchema = z.string().superRefine((v, ctx) => {
  const problem = bundlePathProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `unsafe path: ${problem}` });
});

const isoDate = z.iso.datetime({ offset: true });

/** Server software a bundle can be installed into (the agent's installer plugins, by slug). */
export const INSTALLER_TYPES = ['nginx', 'apache', 'haproxy', 'postfix', 'dovecot', 'java-keystore', 'file'] as const;
export type InstallerType = (typeof INSTALLER_TYPES)[number];

// eslint-disable-next-line no-control-regex
const UNSAFE_PATH_CHARS = /[\u0000-\u001f\u007f\\]/;

/** An absolute POSIX path without `.`/`..` segments, control characters or backslashes. */
export const absolutePathSchema = z
  .string()
  .min(2)
  .max(400)
  .refine(
    (p) =>
      p.startsWith('/') &&
      !UNSAFE_PATH_CHARS.test(p) &&
      !p
        .split('/')
        .slice(1)
        .some((s) => s === '' || s === '.' || s === '..'),
    'an absolute path without empty, "." or ".." segments'
  );

/**
 * Where and how the agent installs the bundle. Signed with the manifest, so an online job and an offline bundle
 * carry the same instruction. It names an installer and a directory; commands are never carried: the agent maps
 * the installer (and the manifest's hooks) to its own configured argv, and refuses directories outside its
 * configured allowed roots.
 */
export const installTargetSchema = z
  .object({
    installer: z.enum(INSTALLER_TYPES),
    /** The live directory (a symlink the agent switches atomically to a versioned directory beside it). */
    directory: absolutePathSchema,
    /** Endpoint the agent probes after the reload to compare the served leaf with `leafSha256`. */
    probe: z
      .object({
        host: z.string().min(1).max(253),
        port: z.number().int().min(1).max(65535),
        serverName: z.string().min(1).max(253).optional(),
        /** STARTTLS protocol for mail servers; absent means TLS from the first byte. */
        starttls: z.enum(['smtp', 'imap', 'pop3']).optional(),
      })
      .strict()
      .optional(),
    /** java-keystore only: keystore format written next to the PEM files. */
    keystore: z
      .object({ format: z.enum(['pkcs12', 'jks']), alias: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/) })
      .strict()
      .optional(),
  })
  .strict();
export type InstallTarget = z.infer<typeof installTargetSchema>;

export const bundleFileSchema = z
  .object({
    path: bundlePathSchema,
    sha256: z.string().regex(HEX_SHA256, 'lower-case hex SHA-256'),
    mode: z.number().int().min(0o400).max(0o777),
    owner: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a user name')
      .optional(),
  })
  .strict()
  .refine((f) => !isKeyPath(f.path) || (f.mode & 0o077) === 0, 'a key file must not be readable by group or others');

export const manifestSchema = z
  .object({
    v: z.literal(1),
    bundleId: z.uuid(),
    agentId: z.string().min(1).max(100),
    slot: z.string().regex(SLOT_PATTERN),
    version: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    issuedAt: isoDate,
    notBefore: isoDate,
    notAfter: isoDate,
    files: z.array(bundleFileSchema).min(1).max(MAX_BUNDLE_FILES),
    leafSha256: z.string().regex(HEX_SHA256, 'lower-case hex SHA-256'),
    hooks: z.array(z.enum(BUNDLE_HOOKS)).max(BUNDLE_HOOKS.length),
    target: installTargetSchema.optional(),
  })
  .strict()
  .refine((m) => Date.parse(m.notBefore) < Date.parse(m.notAfter), 'notBefore must be before notAfter')
  .refine((m) => new Set(m.files.map((f) => f.path)).size === m.files.length, 'duplicate file paths')
  .refine((m) => new Set(m.hooks).size === m.hooks.length, 'duplicate hooks');

export type BundleManifest = z.infer<typeof manifestSchema>;
export type BundleFile = z.infer<typeof bundleFileSchema>;

/**
 * What the sealer is given: the manifest without the values it computes (`v`, file hashes, `leafSha256`).
 * File `mode` defaults to 0o600 for key files and 0o644 otherwise.
 */
export interface ManifestInput {
  bundleId: string;
  agentId: string;
  slot: string;
  version: number;
  issuedAt: string;
  notBefore: string;
  notAfter: string;
  files: { path: string; mode?: number; owner?: string }[];
  hooks: BundleHook[];
  target?: InstallTarget;
}
