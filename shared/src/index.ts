export * from './errors';
export * from './fs';
export * from './crypto';
export * from './clock';
export * from './x509';
export * from './import';
export * from './bundle';
export * from './agent-channel';
