import { isRenewalDue } from '../../domain/acquisition';
import type { Em } from '../../storage/database';
import type { ServiceContext } from '../context';

export interface DueRenewal {
  definitionId: string;
  definitionName: string;
  processMode: 'interactive' | 'unattended';
  certificateId: string;
  notAfter: Date;
  renewalLeadDays: number;
  /** Days until the current certificate expires (negative: expired). */
  daysLeft: number;
}

/**
 * Managed definitions whose current certificate is inside the renewal lead time and that have no open request
 * (SPEC A5). Unattended ones are started by the renewal job; the others are the "overdue" list.
 */
export async function dueRenewals(
  em: Em,
  now: Date,
  options: { limit?: number; definitionId?: string } = {}
): Promise<DueRenewal[]> {
  const rows = await em.getConnection().execute<
    Array<{
      definition_id: string;
      name: string;
      process_mode: 'interactive' | 'unattended';
      certificate_id: string;
      not_after: Date | string;
      renewal_lead_days: number;
    }>
  >(
    `select d.id as definition_id, d.name, d.process_mode, c.id as certificate_id, c.not_after, d.renewal_lead_days
       from certificate_definitions d
       join certificates c on c.definition_id = d.id and c.is_current
      where d.operation_mode = 'managed'
        and (?::uuid is null or d.id = ?::uuid)
        and c.not_after - make_interval(days => d.renewal_lead_days) <= ?
        and not exists (select 1 from certificate_requests r where r.definition_id = d.id and r.status not in ('completed', 'cancelled', 'failed'))
      order by c.not_after asc
      limit ?`,
    [options.definitionId ?? null, options.definitionId ?? null, now, options.limit ?? 10_000]
  );
  return rows
    .map((r) => {
      const notAfter = new Date(r.not_after);
      return {
        definitionId: r.definition_id,
        definitionName: r.name,
        processMode: r.process_mode,
        certificateId: r.certificate_id,
        notAfter,
        renewalLeadDays: r.renewal_lead_days,
        daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / 86_400_000),
      };
    })
    .filter((r) => isRenewalDue(r.notAfter, r.renewalLeadDays, now));
}

/** The overdue list (SPEC A5, W2): renewals due that nobody started — interactive definitions, or unattended ones the job has not reached. */
export async function overdueRenewals(ctx: ServiceContext): Promise<DueRenewal[]> {
  return dueRenewals(ctx.db.em(), ctx.clock.now());
}
