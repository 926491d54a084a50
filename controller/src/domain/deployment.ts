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

/** Host and port the deploy check probes: the target's check host (default the certificate's CN) and port 443. */
export function checkEndpointOf(
  target: DeployTarget,
  commonName: string
): { host: string; port: number; serverName?: string } {
  const host = target.checkHost ?? commonName;
  const port = target.checkPort ?? defaultPortOf(target);
  return { host, port, ...(host === commonName ? {} : { serverName: commonName }) };
}

function defaultPortOf(target: DeployTarget): number {
  if (target.starttls === 'smtp') return 25;
  if (target.starttls === 'imap') return 143;
  if (target.starttls === 'pop3') return 110;
  return 443;
}

/** The signed install instruction carried in the bundle manifest. */
export function installTargetOf(target: DeployTarget, commonName: string): InstallTarget {
  const installer = installerFor(target.serverType);
  if (!installer || !target.directory) {
    throw new Error(`deployment: target ${target.serverName} has no installer or directory`);
  }
  // Plain files have no listener to check unless the operator names one.
  const probed = installer !== 'file' || target.checkHost !== undefined || target.checkPort !== undefined;
  const probe = checkEndpointOf(target, commonName);
  return {
    installer,
    directory: target.directory,
    ...(probed ? { probe: { ...probe, ...(target.starttls ? { starttls: target.starttls } : {}) } } : {}),
    ...(target.keystore ? { keystore: target.keystore } : {}),
  };
}
