import type { San, Subject } from './definition';

/** Maps an RFC 2253-style DN string (`CN=a, O=b, C=JP`) to a Subject; unknown attributes are ignored. */
export function subjectFromDn(dn: string): Subject {
  const parts = splitDn(dn);
  const get = (k: string): string | undefined => parts.find(([a]) => a.toUpperCase() === k)?.[1];
  const cn = get('CN') ?? get('O') ?? 'unnamed';
  const subject: Subject = { commonName: cn.slice(0, 64) };
  const o = get('O');
  if (o) subject.organization = o.slice(0, 64);
  const ou = get('OU');
  if (ou) subject.organizationalUnit = ou.slice(0, 64);
  const l = get('L');
  if (l) subject.locality = l;
  const st = get('ST');
  if (st) subject.state = st;
  const c = get('C');
  if (c && /^[A-Z]{2}$/.test(c)) subject.country = c;
  return subject;
}

function splitDn(dn: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let cur = '';
  let esc = false;
  const flush = (): void => {
    const i = cur.indexOf('=');
    if (i > 0) out.push([cur.slice(0, i).trim(), cur.slice(i + 1).trim()]);
    cur = '';
  };
  for (const ch of dn) {
    if (esc) {
      cur += ch;
      esc = false;
    } else if (ch === '\\') esc = true;
    else if (ch === ',' || ch === '\n' || ch === '+') flush();
    else cur += ch;
  }
  flush();
  return out;
}

/** Maps `DNS:a`, `IP:1.2.3.4`, `email:x`, `URI:y` strings (the inspect vocabulary) to SANs. */
export function sansFromStrings(values: readonly string[]): San[] {
  const out: San[] = [];
  for (const v of values) {
    const i = v.indexOf(':');
    if (i < 0) continue;
    const kind = v.slice(0, i).toUpperCase();
    const value = v.slice(i + 1);
    if (kind === 'DNS') out.push({ type: 'dns', value });
    else if (kind === 'IP' || kind === 'IP ADDRESS') out.push({ type: 'ip', value });
    else if (kind === 'EMAIL') out.push({ type: 'email', value });
    else if (kind === 'URI') out.push({ type: 'uri', value });
  }
  return out;
}
