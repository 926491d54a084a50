/**
 * Deployment planning (SPEC D1, D2): pure functions from a deploy target to the bundle's signed install target,
 * slot and hooks. No I/O.
 */
import crypto from 'node:crypto';
import type { BundleHook, InstallTarget, InstallerType } from '@certfleet/shared';
import type { DeploymentMethod } from './agent';
import type { DeployTarget } from './definition';

/** The effective delivery method of a target. */
export function deliveryMethodOf(target: DeployTarget): DeploymentMethod {
  return target.method ?? (target.agentId ? 'agent' : 'manual');
}

/** The agent installer for a definition's server type, or null (`this-controller` installs itself). */
export function installerFor(serverType: DeployTarget['serverType']): InstallerType | null {
  switch (serverType) {
    case 'file-command':
      return 'file';
    case 'this-controller':
      return null;
    default:
      return serverType;
  }
}

const HOOK_BY_INSTALLER: Readonly<Record<InstallerType, BundleHook | null>> = {
  nginx: 'reload-nginx',
  apache: 'reload-apache',
  haproxy: 'reload-haproxy',
  postfix: 'reload-postfix',
  dovecot: 'reload-dovecot',
  'java-keystore': 'restart-tomcat',
  file: null,
};

/** The named hooks a bundle for this installer asks for (the agent maps names to its own argv). */
export function hooksFor(installer: InstallerType): BundleHook[] {
  const hook = HOOK_BY_INSTALLER[installer];
  return hook ? [hook] : [];
}

/**
 * The slot a target occupies: stable across renewals of the same definition and target, so versions increase per
 * slot and an agent back from days offline installs only the latest.
 */
export function slotFor(definitionId: string, target: Pick<DeployTarget, 'serverName' | 'directory'>): string {
  const digest = crypto
    .createHash('sha256')
    .update(`${target.serverName}\u0000${target.directory ?? ''}`)
    .digest('hex')
    .slice(0, 16);
  return `${definitionId}.${digest}`;
}

/**
 * The endpoint the deploy check (SPEC D6) and the agent's post-install probe look at: the target's check host
 * (default the certificate's CN), lower-cased, with the same port and STARTTLS dialect as the target's monitored
 * endpoint ({@link checkPortAndStarttls}), so a deploy check, the W3 "latest check" and scheduled monitoring
 * all name one `host:port`.
 */
export function checkEndpointOf(
  target: DeployTarget,
  commonName: string,
  opts: DeriveOptions = {}
): { host: string; port: number; serverName?: string; starttls: NonNullable<DeployTarget['starttls']> | null } {
  const name = commonName.replace(/\.$/, '').toLowerCase();
  const host = (target.checkHost ?? commonName).replace(/\.$/, '').toLowerCase();
  const { port, starttls } = checkPortAndStarttls(target, opts);
  return { host, port, ...(host === name ? {} : { serverName: name }), starttls };
}

export interface DeriveOptions {
  /** The controller's own HTTPS port (for `this-controller` targets); unknown → 443. */
  controllerHttpsPort?: number | undefined;
}

/** STARTTLS ports of a submission/relay MTA. */
const SMTP_STARTTLS_PORTS = new Set([25, 587]);

/**
 * Default STARTTLS dialect and port of a target by server type: postfix 25 with STARTTLS smtp, dovecot 993
 * (143 with STARTTLS imap, 110 with pop3), this-controller the controller's HTTPS port, everything else 443.
 */
export function checkPortAndStarttls(
  target: DeployTarget,
  opts: DeriveOptions = {}
): { port: number; starttls: NonNullable<DeployTarget['starttls']> | null } {
  const given = target.starttls ?? null;
  switch (target.serverType) {
    case 'postfix': {
      const port = target.checkPort ?? (given === 'smtp' || given === null ? 25 : given === 'imap' ? 143 : 110);
      const starttls = given ?? (SMTP_STARTTLS_PORTS.has(port) ? 'smtp' : null);
      return { port, starttls };
    }
    case 'dovecot': {
      const port = target.checkPort ?? (given === 'imap' ? 143 : given === 'pop3' ? 110 : given === 'smtp' ? 25 : 993);
      return { port, starttls: given };
    }
    case 'this-controller':
      return { port: target.checkPort ?? opts.controllerHttpsPort ?? 443, starttls: given };
    default: {
      const port = target.checkPort ?? (given === 'smtp' ? 25 : given === 'imap' ? 143 : given === 'pop3' ? 110 : 443);
      return { port, starttls: given };
    }
  }
}

/** The signed install instruction carried in the bundle manifest. */
export function installTargetOf(target: DeployTarget, commonName: string, opts: DeriveOptions = {}): InstallTarget {
  const installer = installerFor(target.serverType);
  if (!installer || !target.directory) {
    throw new Error(`deployment: target ${target.serverName} has no installer or directory`);
  }
  // Plain files have no listener to check unless the operator names one.
  const probed = installer !== 'file' || target.checkHost !== undefined || target.checkPort !== undefined;
  const { starttls, ...probe } = checkEndpointOf(target, commonName, opts);
  return {
    installer,
    directory: target.directory,
    ...(probed ? { probe: { ...probe, ...(starttls ? { starttls } : {}) } } : {}),
    ...(target.keystore ? { keystore: target.keystore } : {}),
  };
}
