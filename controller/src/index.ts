export * from './controller';
export * from './config/config';
