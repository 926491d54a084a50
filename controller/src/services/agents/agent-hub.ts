/**
 * The in-process meeting point between services and live agent streams: services announce new jobs and bans, the
 * gRPC layer (controller/src/grpc) pushes or disconnects. Services never import the transport.
 */
export interface AgentHub {
  /** New jobs were committed for this agent: push them if it is connected. */
  jobsAvailable(agentId: string): void;
  /** The agent was banned: close its live stream now. */
  revoked(agentId: string): void;
  /** True while the agent holds a Connect stream to this controller process. */
  isConnected(agentId: string): boolean;
  /** A running job of this agent was cancelled (a discovery scan): tell the agent to stop it if it is connected. */
  cancelJob(agentId: string, jobId: string): void;
}

/** A hub for processes without a gRPC listener (CLI commands): nothing is connected. */
export const detachedAgentHub: AgentHub = {
  jobsAvailable: () => undefined,
  revoked: () => undefined,
  isConnected: () => false,
  cancelJob: () => undefined,
};
