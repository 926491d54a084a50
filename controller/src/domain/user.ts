/** Console/API users (SPEC U1). Admin manages users, CA, settings and key export; User does the daily work. */
export const roles = ['admin', 'user'] as const;
export type Role = (typeof roles)[number];

export interface User {
  id: string;
  username: string;
  passwordHash: string;
  role: Role;
  mustChangePassword: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** What a role may do. Checked on the server for every route. */
export const permissions = {
  'keys:export': ['admin'],
  'users:manage': ['admin'],
  'settings:manage': ['admin'],
  'agents:manage': ['admin'],
  'repository:write': ['admin', 'user'],
  'repository:read': ['admin', 'user'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof permissions;

export function can(role: Role, permission: Permission): boolean {
  return (permissions[permission] as readonly Role[]).includes(role);
}
