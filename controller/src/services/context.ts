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
}

/** Who performs an action, for the audit log: `user:<name>`, `cli:<os user>`, `system`. */
export type Actor = string;
