/**
 * The agent's version. A constant (not read from package.json at run time) so that the single executable carries
 * it; a unit test checks it equals the root package.json version.
 */
export const AGENT_VERSION = '0.1.0';
