/**
 * The agent's local configuration (`/etc/certfleet-agent/agent.json`, or `--config FILE`). It is the agent's own
 * policy: bundles from the controller name an installer and a directory, never a command; this file decides which
 * directories may be written (allowed roots) and which argv each installer runs to validate and reload.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { CertFleetError, INSTALLER_TYPES, absolutePathSchema, type InstallerType } from '@certfleet/shared';

/** An argv, run with execFile (never a shell string). */
export const commandSchema = z.tuple([z.string().min(1)], z.string());
export type Command = readonly [string, ...string[]];

export const installerCommandsSchema = z
  .object({
    /** Config test, e.g. `["nginx","-t"]`. Empty array = no validation step. */
    validate: z.array(z.string().min(1)).optional(),
    /** Reload, e.g. `["systemctl","reload","nginx"]`. */
    reload: commandSchema.optional(),
  })
  .strict();
export type InstallerCommands = z.infer<typeof installerCommandsSchema>;

export const DEFAULT_STATE_DIR = '/var/lib/certfleet-agent';
export const DEFAULT_CONFIG_FILE = '/etc/certfleet-agent/agent.json';

export const agentConfigSchema = z
  .object({
    /** Identity, pins, last installed versions, job results. Mode 0700. */
    stateDir: absolutePathSchema.default(DEFAULT_STATE_DIR),
    /** Install directories must lie under one of these (after resolving symlinks of the parent). */
    allowedRoots: z.array(absolutePathSchema).min(1).default(['/etc/certfleet']),
    /** Per-installer overrides of the preset validate/reload commands. */
    commands: z.partialRecord(z.enum(INSTALLER_TYPES), installerCommandsSchema).default({}),
    /** Timeout for each validate/reload command. */
    commandTimeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
    /** Post-install probe: total time to wait for the new certificate to be served (reloads are asynchronous). */
    probeTimeoutMs: z.number().int().min(500).max(120_000).default(15_000),
    /** java-keystore: file holding the keystore password (never in a bundle). */
    keystorePasswordFile: absolutePathSchema.optional(),
    /** File owner (user name) for written files when running as root; absent = keep the agent's user. */
    fileOwner: z.string().min(1).max(32).optional(),
  })
  .strict();
export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

export function parseAgentConfig(raw: unknown, source = 'agent config'): AgentConfig {
  const parsed = agentConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CertFleetError(
      'CF_VALIDATION',
      `agent: ${source}: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`
    );
  }
  return parsed.data;
}

/** Reads the config file; a missing file at the default location means all defaults. */
export function loadAgentConfig(file: string | undefined): AgentConfig {
  const path = file ?? DEFAULT_CONFIG_FILE;
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    if (file === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return parseAgentConfig({});
    throw new CertFleetError('CF_VALIDATION', `agent: cannot read config ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CertFleetError('CF_VALIDATION', `agent: config ${path} is not JSON`);
  }
  return parseAgentConfig(json, path);
}

export type { InstallerType };
