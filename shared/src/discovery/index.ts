// Discovery (SPEC S1–S3): target and port expansion, the connect-then-probe scan, the CSV report.
export * from './targets';
export * from './scan';
