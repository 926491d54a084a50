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

export interface AgeStanzaInfo {
  /** The first argument of the `-> ` line: `X25519`, `scrypt`, … */
  type: string;
  /** The remaining arguments (for scrypt: `[salt, logN]`), unvalidated. */
  args: string[];
}

export interface AgeHeaderInfo {
  stanzaTypes: string[];
  stanzas: AgeStanzaInfo[];
}

/**
 * Reads the recipient stanzas from a binary age v1 header (without decrypting, without any KDF), or null if not
 * age v1. Nothing here is authenticated yet (the header MAC is checked by the decrypter): callers use it only to
 * refuse early.
 */
export function readAgeHeader(bytes: Uint8Array): AgeHeaderInfo | null {
  const head = Buffer.from(bytes.subarray(0, Math.min(bytes.length, 64 * 1024))).toString('latin1');
  if (!head.startsWith('age-encryption.org/v1\n')) return null;
  const end = head.indexOf('\n---');
  if (end === -1) return null;
  const stanzas = head
    .slice(0, end)
    .split('\n')
    .filter((l) => l.startsWith('-> '))
    .map((l) => {
      const [type = '', ...args] = l.slice(3).split(' ');
      return { type, args };
    });
  return { stanzaTypes: stanzas.map((s) => s.type), stanzas };
}
