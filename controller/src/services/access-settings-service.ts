/**
 * Access settings of the console and API: the IP allow-list (SPEC U2) and client-certificate login (SPEC U4).
 *
 * Stored as `settings` rows `access.ip_allow_list` (`{ cidrs }`) and `access.client_cert_login`
 * (`{ enabled, thumbprints }`), no secrets. Every process reads them through {@link accessSettings}, a cache that
 * re-reads the database at most every second (so a change made by another controller process or by the
 * `certfleet access` CLI applies within about a second, without restart) and that the writing process clears at
 * once. Changes are audited as `settings.ip_allow_list.updated` / `settings.client_cert_login.updated`.
 */
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { formatCidr, isAllowedByList, parseCidr, parseIp, type Cidr } from '../domain/cidr';
import {
  clientCertLoginInputSchema,
  clientCertRefusal,
  type ClientCertLoginSettings,
  type ClientCertRefusal,
  type PresentedCertificate,
} from '../domain/client-cert-login';
import type { Em } from '../storage/database';
import { CaIssuanceEntity, SettingEntity } from '../storage/entities';
import { appendAudit } from './audit-service';
import type { Actor, ServiceContext } from './context';
import { parseInput } from './definition-service';

export const IP_ALLOW_LIST_KEY = 'access.ip_allow_list';
export const CLIENT_CERT_LOGIN_KEY = 'access.client_cert_login';
export const MAX_ALLOW_LIST_ENTRIES = 500;
/** How stale a process's view of the settings may be. */
export const ACCESS_SETTINGS_TTL_MS = 1_000;

/** One CIDR block (or a single address) as typed; the message names the entry and the fix. */
const cidrText = z
  .string()
  .max(100)
  .superRefine((s, c) => {
    const r = parseCidr(s);
    if (!r.ok) c.addIssue({ code: 'custom', message: r.reason });
  });

export const cidrListSchema = z
  .array(cidrText)
  .max(MAX_ALLOW_LIST_ENTRIES)
  .describe('CIDR blocks (IPv4 and IPv6, e.g. 192.0.2.0/24, 2001:db8::/32); a bare address is one host; [] allows all');

export const ipAllowListInputSchema = z
  .object({
    cidrs: cidrListSchema,
    force: z
      .boolean()
      .default(false)
      .describe("save even though the list excludes this request's own address (risk of lock-out)"),
  })
  .strict();

export interface IpAllowListView {
  cidrs: string[];
  updatedAt: Date | null;
}

export interface AccessSnapshot {
  ipAllowList: Cidr[];
  clientCertLogin: ClientCertLoginSettings;
}

const storedIpList = z.object({ cidrs: z.array(z.string()) });
const storedClientCert = z.object({ enabled: z.boolean(), thumbprints: z.array(z.string()) });

/** Canonical, de-duplicated blocks (`10.0.0.1` → `10.0.0.1/32`). Throws CF_VALIDATION for a bad entry. */
export function canonicalCidrs(list: readonly string[]): Cidr[] {
  const out = new Map<string, Cidr>();
  const problems: string[] = [];
  list.forEach((s, i) => {
    const r = parseCidr(s);
    if (r.ok) out.set(formatCidr(r.cidr), r.cidr);
    else problems.push(`cidrs.${i}: ${r.reason}`);
  });
  if (problems.length) {
    throw new CertFleetError('CF_VALIDATION', `access: ${problems.join('; ')}`, { details: { problems } });
  }
  return [...out.values()];
}

function readIpList(value: unknown): Cidr[] {
  const r = storedIpList.safeParse(value);
  if (!r.success) {
    throw new CertFleetError('CF_CONFIG_INVALID', 'access: the stored IP allow-list is unreadable; set it again');
  }
  return canonicalCidrs(r.data.cidrs);
}

function readClientCert(value: unknown): ClientCertLoginSettings {
  const r = storedClientCert.safeParse(value);
  if (!r.success) {
    throw new CertFleetError(
      'CF_CONFIG_INVALID',
      'access: the stored client-certificate login settings are unreadable'
    );
  }
  return r.data;
}

/** Reads both settings in one query (absent rows: empty allow-list, client-certificate login off). */
export async function loadAccessSnapshot(em: Em): Promise<AccessSnapshot & { ipUpdatedAt: Date | null }> {
  const rows = await em.find(SettingEntity, { key: { $in: [IP_ALLOW_LIST_KEY, CLIENT_CERT_LOGIN_KEY] } });
  const ip = rows.find((r) => r.key === IP_ALLOW_LIST_KEY);
  const cc = rows.find((r) => r.key === CLIENT_CERT_LOGIN_KEY);
  return {
    ipAllowList: ip ? readIpList(ip.value) : [],
    ipUpdatedAt: ip?.updatedAt ?? null,
    clientCertLogin: cc ? readClientCert(cc.value) : { enabled: false, thumbprints: [] },
  };
}

/**
 * A per-process view of the access settings, re-read after {@link ACCESS_SETTINGS_TTL_MS}. Concurrent callers
 * share one read. When a re-read fails the last known settings stay in force (and the error is logged); with
 * nothing known yet the read error propagates, so requests fail closed.
 */
export class AccessSettingsCache {
  private value: AccessSnapshot | undefined;
  private readAtMs = 0;
  private loading: Promise<AccessSnapshot> | undefined;
  /** Bumped by invalidate(): a read that started before a change must not store its stale result. */
  private generation = 0;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly ttlMs = ACCESS_SETTINGS_TTL_MS,
    private readonly nowMs: () => number = () => performance.now()
  ) {}

  async get(): Promise<AccessSnapshot> {
    if (this.value && this.nowMs() - this.readAtMs < this.ttlMs) return this.value;
    this.loading ??= this.read(this.generation);
    return this.loading;
  }

  private async read(generation: number): Promise<AccessSnapshot> {
    try {
      const v = await loadAccessSnapshot(this.ctx.db.em());
      if (generation === this.generation) {
        this.value = v;
        this.readAtMs = this.nowMs();
      }
      return v;
    } catch (err) {
      if (!this.value) throw err;
      this.ctx.log.error({ err }, 'access settings: re-read failed, keeping the last known settings');
      this.readAtMs = this.nowMs();
      return this.value;
    } finally {
      if (generation === this.generation) this.loading = undefined;
    }
  }

  /** Forget the cached settings (after this process changed them). */
  invalidate(): void {
    this.generation++;
    this.value = undefined;
    this.readAtMs = 0;
    this.loading = undefined;
  }
}

const caches = new WeakMap<ServiceContext, AccessSettingsCache>();

/** The access-settings cache of this controller (one per service context). */
export function accessSettings(ctx: ServiceContext): AccessSettingsCache {
  let c = caches.get(ctx);
  if (!c) {
    c = new AccessSettingsCache(ctx);
    caches.set(ctx, c);
  }
  return c;
}

async function upsertSetting(em: Em, key: string, value: unknown, now: Date): Promise<void> {
  const row = await em.findOne(SettingEntity, { key });
  if (row) {
    row.value = value;
    row.updatedAt = now;
  } else {
    em.persist(em.create(SettingEntity, { key, value, updatedAt: now }));
  }
}

export async function getIpAllowList(em: Em): Promise<IpAllowListView> {
  const s = await loadAccessSnapshot(em);
  return { cidrs: s.ipAllowList.map(formatCidr), updatedAt: s.ipUpdatedAt };
}

/**
 * Replaces the IP allow-list (SPEC U2); `[]` allows every address. With `clientAddress` (the API caller), a list
 * that would exclude the caller is refused with CF_CONFLICT unless `force` is set; the CLI passes null (it is the
 * recovery path and works on the database directly).
 */
export async function setIpAllowList(
  ctx: ServiceContext,
  raw: unknown,
  clientAddress: string | null,
  actor: Actor
): Promise<IpAllowListView> {
  const input = parseInput(ipAllowListInputSchema, raw, 'access.ip-allow-list');
  const cidrs = canonicalCidrs(input.cidrs);
  if (clientAddress !== null && !input.force && !isAllowedByList(cidrs, clientAddress)) {
    const ip = parseIp(clientAddress);
    throw new CertFleetError(
      'CF_CONFLICT',
      `access: the new IP allow-list does not include your own address ${clientAddress}; add it (e.g. ` +
        `${ip ? `${clientAddress}/${ip.family === 4 ? 32 : 128}` : clientAddress}) or send "force": true`,
      { details: { clientAddress } }
    );
  }
  const text = cidrs.map(formatCidr);
  const saved = await ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    const before = (await getIpAllowList(em)).cidrs;
    await upsertSetting(em, IP_ALLOW_LIST_KEY, { cidrs: text }, now);
    await appendAudit(
      em,
      {
        actor,
        action: 'settings.ip_allow_list.updated',
        targetType: 'settings',
        targetId: IP_ALLOW_LIST_KEY,
        details: {
          cidrs: text,
          added: text.filter((c) => !before.includes(c)),
          removed: before.filter((c) => !text.includes(c)),
          forced: input.force && clientAddress !== null && !isAllowedByList(cidrs, clientAddress),
        },
      },
      now
    );
    return { cidrs: text, updatedAt: now };
  });
  accessSettings(ctx).invalidate();
  return saved;
}

/**
 * Why `cert` does not satisfy `settings` (see domain/client-cert-login.ts), plus `revoked` for a certificate the
 * built-in CA issued and has since revoked; null when it may log in (or the feature is off).
 */
export async function clientCertificateRefusal(
  ctx: ServiceContext,
  settings: ClientCertLoginSettings,
  cert: PresentedCertificate | null
): Promise<ClientCertRefusal | null> {
  const refusal = clientCertRefusal(settings, cert, ctx.clock.now());
  if (refusal || !settings.enabled || !cert) return refusal;
  const issued = await ctx.db.em().findOne(CaIssuanceEntity, { sha256: cert.sha256 });
  return issued?.revokedAt ? 'revoked' : null;
}

export async function getClientCertLogin(em: Em): Promise<ClientCertLoginSettings> {
  return (await loadAccessSnapshot(em)).clientCertLogin;
}

/**
 * Replaces the client-certificate login settings (SPEC U4). Enabling needs the current request to present an
 * allowed, currently valid certificate (`presented`), unless `force` is set; the CLI passes `'cli'` to skip the
 * check (recovery path).
 */
export async function setClientCertLogin(
  ctx: ServiceContext,
  raw: unknown,
  presented: PresentedCertificate | null | 'cli',
  actor: Actor
): Promise<ClientCertLoginSettings> {
  const input = parseInput(clientCertLoginInputSchema, raw, 'access.client-cert-login');
  const next: ClientCertLoginSettings = { enabled: input.enabled, thumbprints: [...new Set(input.thumbprints)] };
  if (presented !== 'cli' && next.enabled && !input.force) {
    const refusal = await clientCertificateRefusal(ctx, next, presented);
    if (refusal) {
      throw new CertFleetError(
        'CF_CONFLICT',
        `access: enabling client-certificate login would lock you out: this request ${
          refusal === 'no-certificate' ? 'presents no client certificate' : `presents a certificate that is ${refusal}`
        }; connect with an allowed certificate or send "force": true`,
        { details: { refusal } }
      );
    }
  }
  const saved = await ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    await upsertSetting(em, CLIENT_CERT_LOGIN_KEY, next, now);
    await appendAudit(
      em,
      {
        actor,
        action: 'settings.client_cert_login.updated',
        targetType: 'settings',
        targetId: CLIENT_CERT_LOGIN_KEY,
        details: { enabled: next.enabled, thumbprints: next.thumbprints, forced: input.force },
      },
      now
    );
    return next;
  });
  accessSettings(ctx).invalidate();
  return saved;
}
