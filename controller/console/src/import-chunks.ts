/**
 * Bulk import of discovery findings in request-sized chunks (W8): the console sends them chunk by chunk so a large
 * import shows its progress. Plain data, no DOM.
 */

/** Findings per import request: small enough to show progress, large enough to keep requests few. */
const IMPORT_CHUNK = 25;

/**
 * The selected finding ids in request-sized chunks. All findings of one certificate go into the same chunk: the
 * server merges them into one definition with all their endpoints (split, the later ones would count as known).
 */
export function importChunks(
  findings: ReadonlyArray<{ id: string; sha256: string }>,
  selected: ReadonlySet<string>
): string[][] {
  const byCertificate = new Map<string, string[]>();
  for (const f of findings) {
    if (!selected.has(f.id)) continue;
    const ids = byCertificate.get(f.sha256) ?? [];
    ids.push(f.id);
    byCertificate.set(f.sha256, ids);
  }
  const chunks: string[][] = [];
  let current: string[] = [];
  for (const ids of byCertificate.values()) {
    if (current.length > 0 && current.length + ids.length > IMPORT_CHUNK) {
      chunks.push(current);
      current = [];
    }
    current.push(...ids);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
