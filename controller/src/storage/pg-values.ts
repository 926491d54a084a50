/**
 * Values for PostgreSQL parameters that may carry strings a remote party controls (a SAN, a subject, a STARTTLS
 * greeting quoted in an error message). PostgreSQL text cannot hold U+0000, and a `\u0000` escape is refused when
 * JSON becomes text or `jsonb` — one NUL in one served certificate would make a whole statement fail (a monitoring
 * run's history chunk or report, a batch of discovery findings). NUL characters become U+FFFD instead.
 */

/** `text` with every U+0000 replaced by U+FFFD. */
export function pgText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

/** JSON text for a `json`/`jsonb` parameter or a `json_to_recordset` row set, NUL characters replaced. */
export function pgJson(value: unknown): string {
  const json = JSON.stringify(value);
  // Fast path: nothing to replace. A literal backslash followed by "u0000" in some string also matches; the second
  // pass is then merely unnecessary, never wrong.
  if (!json.includes('\\u0000')) return json;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? pgText(v) : v));
}
