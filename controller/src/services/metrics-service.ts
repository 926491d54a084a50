/**
 * Prometheus metrics (SPEC M5): per-endpoint certificate expiry and check status from the latest monitoring result
 * of every endpoint, the last monitoring run, deployments and agents. Text exposition format 0.0.4.
 */
import type { ServiceContext } from './context';

interface LatestResult {
  endpoint_id: string;
  host: string;
  port: number;
  definition: string;
  status: string;
  reason: string;
  leaf_not_after: Date | null;
}

/** Escapes a label value (backslash, double quote, newline). */
function label(v: string | number): string {
  return String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const STATUS_VALUE: Readonly<Record<string, number>> = { ok: 0, warning: 1, failing: 2 };

export async function renderMetrics(ctx: ServiceContext): Promise<string> {
  const conn = ctx.db.em().getConnection();
  const latest = await conn.execute<LatestResult[]>(
    `select distinct on (h.endpoint_id) h.endpoint_id, e.host, e.port, d.name as definition, h.status, h.reason,
            h.leaf_not_after
       from monitoring_history h
       join monitored_endpoints e on e.id = h.endpoint_id
       join certificate_definitions d on d.id = h.definition_id
      where h.endpoint_id is not null
      order by h.endpoint_id, h.at desc`
  );
  const runs = await conn.execute<
    { started_at: Date; finished_at: Date | null; ok: number; warning: number; failing: number }[]
  >(
    `select started_at, finished_at, ok, warning, failing from monitor_runs where status = 'finished'
      order by started_at desc limit 1`
  );
  const deployments = await conn.execute<{ status: string; n: string }[]>(
    `select status, count(*) as n from deployments group by status order by status`
  );
  const agents = await conn.execute<{ status: string; n: string }[]>(
    `select status, count(*) as n from agents group by status order by status`
  );
  const now = ctx.clock.now().getTime();
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string) =>
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  metric(
    'certfleet_endpoint_certificate_expiry_seconds',
    'gauge',
    'Seconds until the served leaf certificate expires.'
  );
  for (const r of latest) {
    if (!r.leaf_not_after) continue;
    const l = `endpoint="${label(`${r.host}:${r.port}`)}",definition="${label(r.definition)}"`;
    lines.push(
      `certfleet_endpoint_certificate_expiry_seconds{${l}} ${Math.round((new Date(r.leaf_not_after).getTime() - now) / 1000)}`
    );
  }
  metric('certfleet_endpoint_check_status', 'gauge', 'Latest check status: 0 ok, 1 warning, 2 failing.');
  for (const r of latest) {
    const l = `endpoint="${label(`${r.host}:${r.port}`)}",definition="${label(r.definition)}",reason="${label(r.reason)}"`;
    lines.push(`certfleet_endpoint_check_status{${l}} ${STATUS_VALUE[r.status] ?? 2}`);
  }
  const run = runs[0];
  metric('certfleet_monitor_last_run_duration_seconds', 'gauge', 'Duration of the last finished monitoring run.');
  metric('certfleet_monitor_last_run_timestamp_seconds', 'gauge', 'Start of the last finished monitoring run.');
  metric('certfleet_monitor_last_run_endpoints', 'gauge', 'Endpoints by status in the last finished run.');
  if (run) {
    const started = new Date(run.started_at).getTime();
    const finished = run.finished_at ? new Date(run.finished_at).getTime() : started;
    lines.push(`certfleet_monitor_last_run_duration_seconds ${((finished - started) / 1000).toFixed(3)}`);
    lines.push(`certfleet_monitor_last_run_timestamp_seconds ${Math.floor(started / 1000)}`);
    for (const s of ['ok', 'warning', 'failing'] as const) {
      lines.push(`certfleet_monitor_last_run_endpoints{status="${s}"} ${run[s]}`);
    }
  }
  metric('certfleet_deployments', 'gauge', 'Deployments by status.');
  for (const d of deployments) lines.push(`certfleet_deployments{status="${label(d.status)}"} ${Number(d.n)}`);
  metric('certfleet_agents', 'gauge', 'Enrolled agents by status.');
  for (const a of agents) lines.push(`certfleet_agents{status="${label(a.status)}"} ${Number(a.n)}`);
  return `${lines.join('\n')}\n`;
}
