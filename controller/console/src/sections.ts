/**
 * The console's screens (SPEC W1–W12) and their URL paths. Shared by the console (navigation) and the controller,
 * which answers these paths, and any path below them, with the console's index.html (client-side routing).
 * Plain data: no DOM, no Node imports.
 */
export interface Section {
  /** SPEC W id. */
  id: string;
  path: string;
  title: string;
  /** False: the screen shows a "not built yet" placeholder. */
  built: boolean;
}

export const SECTIONS: readonly Section[] = [
  { id: 'W1', path: '/definitions', title: 'Certificate definitions', built: true },
  { id: 'W2', path: '/requests', title: 'Requests and acquisition processes', built: true },
  { id: 'W3', path: '/certificates', title: 'Certificates and deployments', built: true },
  { id: 'W4', path: '/provider-accounts', title: 'Provider accounts', built: true },
  { id: 'W5', path: '/private-keys', title: 'Private keys', built: true },
  { id: 'W6', path: '/monitoring', title: 'Monitor control', built: true },
  { id: 'W7', path: '/sent-mail', title: 'Sent mail', built: true },
  { id: 'W8', path: '/discovery', title: 'Discovery', built: true },
  { id: 'W9', path: '/trust-sets', title: 'Trusted CA sets', built: true },
  { id: 'W10', path: '/ca', title: 'Private CA', built: true },
  { id: 'W11', path: '/settings', title: 'Settings', built: true },
  { id: 'W12', path: '/agents', title: 'Agents', built: true },
];

/** Paths outside the W screens that the console routes itself. */
export const CONSOLE_PATHS: readonly string[] = ['/', '/login', '/change-password', ...SECTIONS.map((s) => s.path)];
