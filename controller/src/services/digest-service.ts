/**
 * The daily digest (SPEC M5): one mail listing everything that needs the administrator — failing checks (the latest
 * result of every enabled endpoint that is not ok), certificates expiring within 30 days, stalled processes
 * (waiting), overdue renewals, and agents not seen for a day.
 */
import type { DailyDigestData } from '../notifications/templates/daily-digest';
import { overdueRenewals } from './acquisition/renewal-service';
import type { ServiceContext } from './context';

const DAY_MS = 86_400_000;

export async function buildDailyDigest(
  ctx: ServiceContext,
  options: { expiringDays?: number } = {}
): Promise<DailyDigestData> {
  const now = ctx.clock.now();
  const conn = ctx.db.em().getConnection();
  const failing = await conn.execute<{ name: string; endpoint: string; reason: string; status: string; at: Date }[]>(
    `select * from (
       select distinct on (h.endpoint_id) d.name, h.endpoint, h.reason, h.status, h.at
         from monitoring_history h
         join monitored_endpoints e on e.id = h.endpoint_id and e.enabled
         join certificate_definitions d on d.id = h.definition_id
        order by h.endpoint_id, h.at desc) latest
      where status <> 'ok'
      order by name, endpoint
      limit 500`
  );
  const expiring = await conn.execute<{ name: string; subject: string; not_after: Date }[]>(
    `select d.name, c.subject, c.not_after from certificates c
       join certificate_definitions d on d.id = c.definition_id
      where c.is_current and c.not_after <= ?
      order by c.not_after limit 500`,
    [new Date(now.getTime() + (options.expiringDays ?? 30) * DAY_MS)]
  );
  const stalled = await conn.execute<
    { name: string; id: string; status: string; last_error: string | null; updated_at: Date | null }[]
  >(
    `select d.name, r.id, coalesce(r.resume_status, r.status) as status, r.last_error, r.updated_at
       from certificate_requests r join certificate_definitions d on d.id = r.definition_id
      where r.status = 'waiting' order by r.updated_at limit 500`
  );
  const agents = await conn.execute<{ name: string; last_seen_at: Date | null }[]>(
    `select name, last_seen_at from agents
      where status = 'active' and (last_seen_at is null or last_seen_at < ?) order by name limit 500`,
    [new Date(now.getTime() - DAY_MS)]
  );
  const overdue = await overdueRenewals(ctx);
  return {
    date: now,
    failingChecks: failing.map((f) => ({
      definitionName: f.name,
      endpoint: f.endpoint,
      reason: `${f.status}: ${f.reason}`,
      since: new Date(f.at),
    })),
    expiringCertificates: expiring.map((e) => ({
      definitionName: e.name,
      commonName: /CN=([^,]+)/.exec(e.subject)?.[1] ?? e.subject,
      notAfter: new Date(e.not_after),
      daysLeft: Math.floor((new Date(e.not_after).getTime() - now.getTime()) / DAY_MS),
    })),
    stalledProcesses: stalled.map((s) => ({
      definitionName: s.name,
      requestId: s.id,
      step: s.status,
      reason: s.last_error ?? 'waiting for the operator',
      ...(s.updated_at ? { since: new Date(s.updated_at) } : {}),
    })),
    overdueRenewals: overdue.map((o) => ({
      definitionName: o.definitionName,
      notAfter: o.notAfter,
      daysLeft: o.daysLeft,
    })),
    agentsNotSeen: agents.map((a) => ({
      agentName: a.name,
      lastSeenAt: a.last_seen_at ? new Date(a.last_seen_at) : null,
    })),
  };
}
