/** A file in a definition's or request's document folder (SPEC R5). */
export const MAX_DOCUMENT_BYTES = 20 * 1024 * 1024;

export interface DocumentRecord {
  id: string;
  definitionId: string;
  requestId: string | null;
  fileName: string;
  contentType: string;
  size: number;
  sha256: string;
  createdAt: Date;
}

/** A safe display/download name: no path parts, no control characters, at most 255 bytes. */
export function sanitizeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f"]/g, '').trim();
  return clean.slice(0, 255) || 'document';
}
