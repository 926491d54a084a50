/**
 * age-encryption is ESM-only. With `module: node16` TypeScript refuses a static import from CommonJS, so it is
 * loaded once through a dynamic `import()` (works under tsx and in Node 20).
 */
import type * as Age from 'age-encryption' with { 'resolution-mode': 'import' };

type AgeModule = typeof Age;

let loaded: Promise<AgeModule> | undefined;

export function loadAge(): Promise<AgeModule> {
  loaded ??= import('age-encryption');
  return loaded;
}

export interface AgeHeaderInfo {
  stanzaTypes: string[];
}

/** Reads the recipient stanza types from a binary age v1 header (without decrypting), or null if not age v1. */
export function readAgeHeader(bytes: Uint8Array): AgeHeaderInfo | null {
  const head = Buffer.from(bytes.subarray(0, Math.min(bytes.length, 64 * 1024))).toString('latin1');
  if (!head.startsWith('age-encryption.org/v1\n')) return null;
  const end = head.indexOf('\n---');
  if (end === -1) return null;
  const stanzaTypes = head
    .slice(0, end)
    .split('\n')
    .filter((l) => l.startsWith('-> '))
    .map((l) => l.slice(3).split(' ')[0] ?? '');
  return { stanzaTypes };
}
