import { EntitySchema } from '@mikro-orm/core';
import type { User } from '../../domain/user';

export const UserEntity = new EntitySchema<User>({
  name: 'UserRow',
  tableName: 'users',
  properties: {
    id: { type: 'uuid', primary: true },
    username: { type: 'string', length: 100, unique: true },
    passwordHash: { type: 'text' },
    role: { type: 'string', length: 20 },
    mustChangePassword: { type: 'boolean' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

/** An API session: the bearer token is stored only as its SHA-256. */
export interface ApiSessionRow {
  id: string;
  userId: string;
  tokenSha256: string;
  createdAt: Date;
  expiresAt: Date;
  lastSeenAt: Date;
}

export const ApiSessionEntity = new EntitySchema<ApiSessionRow>({
  name: 'ApiSessionRow',
  tableName: 'api_sessions',
  properties: {
    id: { type: 'uuid', primary: true },
    userId: { kind: 'm:1', entity: 'UserRow', mapToPk: true, fieldName: 'user_id', deleteRule: 'cascade', index: true },
    tokenSha256: { type: 'string', length: 64, unique: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    expiresAt: { type: 'datetime', columnType: 'timestamptz' },
    lastSeenAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
