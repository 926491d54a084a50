import type { SealContext } from './envelope';

/**
 * Every database column that holds a value sealed under the master key. The envelope binds each value to its table,
 * column and row id, so this list is the one place those names live (key vault, provider accounts, backup checks).
 */
export const SEALED_COLUMNS = {
  privateKey: { table: 'private_keys', column: 'sealed', isPrivateKey: true },
  providerPassword: { table: 'provider_accounts', column: 'password_sealed', isPrivateKey: false },
  namedSecret: { table: 'secrets', column: 'sealed', isPrivateKey: false },
} as const;

export type SealedColumn = (typeof SEALED_COLUMNS)[keyof typeof SEALED_COLUMNS];

/** The associated data of one sealed value. */
export function sealContext(column: SealedColumn, rowId: string): SealContext {
  return { table: column.table, column: column.column, rowId };
}
