import type { Logger } from 'pino';
import type { Clock } from '@certfleet/shared';
import type { MasterKey } from '../secrets/master-key';
import type { Database } from '../storage/database';
import type { AgentHub } from './agents/agent-hub';
import type { DiscoveryRunnerHandle } from './discovery/scan-service';

/** What every service needs: the database, the master key (KEK), a clock and a logger. Built once in main. */
export interface ServiceContext {
  db: Database;
  masterKey: MasterKey;
  clock: Clock;
  log: Logger;
  /** Live agent streams of this process (absent in CLI processes: nothing is connected). */
  agentHub?: AgentHub;
  /** The controller's discovery scan runner (absent in CLI processes: queued scans wait for a controller). */
  discoveryRunner?: DiscoveryRunnerHandle;
  /** pg-boss cron schedules, global in the database (absent in CLI processes: applied at the next start). */
  jobSchedules?: JobSchedules;
  /** The port this controller's HTTPS listener is bound to (the default check port of `this-controller` targets). */
  httpsPort?: number;
}

/** A queue's cron schedule as pg-boss holds it (shared by every replica on the database). */
export interface JobSchedule {
  cron: string;
  timezone: string;
  updatedAt: Date | null;
}

/** Reads and replaces pg-boss cron schedules without restarting anything. */
export interface JobSchedules {
  get(queue: string): Promise<JobSchedule | null>;
  set(queue: string, cron: string): Promise<void>;
}

/** Who performs an action, for the audit log: `user:<name>`, `cli:<os user>`, `system`. */
export type Actor = string;
