// Discovery (SPEC S1–S3): target and port expansion, the connect-then-probe sweep, the analysis, the CSV report.
export * from './targets';
export * from './sweep';
export * from './analyse';
export * from './scan';
export * from './csv';
