import { loadAgentConfig, type AgentConfig } from '../config';
import { StateStore } from '../state/state-store';

/** `--config FILE` and `--state-dir DIR` shared by the commands. */
export interface CommonOptions {
  config?: string;
  stateDir?: string;
}

export function loadContext(opts: CommonOptions): { config: AgentConfig; store: StateStore } {
  const config = loadAgentConfig(opts.config);
  return { config, store: new StateStore(opts.stateDir ?? config.stateDir) };
}
