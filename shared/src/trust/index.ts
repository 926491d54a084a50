export * from './trust-set';
export * from './system';
