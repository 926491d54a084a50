/**
 * The part of the shared package a monitoring sweep worker needs — probe engine, check chain, revocation, AIA
 * chain completion, trust sets — as one lean entry point (`@certfleet/shared/src/monitor-engine`). Worker threads
 * load it instead of the package index, which also pulls in bundles, importers and the agent channel.
 */
export * from './probe';
export * from './checks';
export * from './revocation';
export * from './aia';
export * from './trust';
