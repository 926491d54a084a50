export * from './key-spec';
export * from './keys';
