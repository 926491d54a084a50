/**
 * The one layout every mail template renders through (SPEC N2). A template describes its message as a list of
 * blocks; this module turns the blocks into a plain-text body (always) and an HTML body (escaped, optional for the
 * reader). Templates therefore never build HTML by hand, so data cannot inject markup, and text and HTML cannot
 * drift apart. Everything here is pure: no clock, no I/O.
 */
import { z } from 'zod';

/** What a template renders to. `text` is the primary body; `html` is an escaped alternative. */
export interface RenderedMail {
  subject: string;
  text: string;
  html?: string;
}

/** A template: a zod schema for its data and a pure render function over the parsed data. */
export interface MailTemplate<S extends z.ZodType = z.ZodType> {
  /** Registry key, also stored in `sent_mail.template`. */
  name: string;
  /** Validates the caller's data before anything is rendered or sent. */
  data: S;
  render(data: z.output<S>): RenderedMail;
}

export function defineTemplate<S extends z.ZodType>(template: MailTemplate<S>): MailTemplate<S> {
  return template;
}

/** One piece of a message body. */
export type Block =
  | { kind: 'p'; text: string }
  | { kind: 'heading'; text: string }
  /** Label/value pairs, e.g. `Definition: web1`. Pairs with an empty value are left out. */
  | { kind: 'fields'; rows: ReadonlyArray<readonly [string, string | null | undefined]> }
  | { kind: 'list'; items: readonly string[] }
  /** A command or other literal text, shown verbatim (monospace in HTML). */
  | { kind: 'code'; text: string }
  /** A table; `empty` is shown instead when there are no rows. */
  | { kind: 'table'; head: readonly string[]; rows: ReadonlyArray<readonly string[]>; empty: string };

const SUBJECT_PREFIX = '[CertFleet]';
const SUBJECT_MAX = 200;

/** Subjects are one line: control characters (CR/LF included) collapse to a space, and the length is capped. */
export function oneLine(s: string, max = SUBJECT_MAX): string {
  const flat = s
    // eslint-disable-next-line no-control-regex -- stripping control characters is the point
    .replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function subject(text: string): string {
  return oneLine(`${SUBJECT_PREFIX} ${text}`);
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** `2026-05-01 09:30 UTC`: mails are read in many time zones, so times are always UTC and say so. */
export function formatTime(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** `2026-05-01` (UTC). */
export function formatDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** `1 day` / `12 days` / `expired 3 days ago`. */
export function formatDaysLeft(days: number): string {
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`;
  return `${days} day${days === 1 ? '' : 's'}`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const FOOTER =
  'This message was sent by CertFleet. Notification settings: Settings → SMTP in the console (administrators).';

function textBlock(b: Block): string {
  switch (b.kind) {
    case 'p':
      return b.text;
    case 'heading':
      return `${b.text}\n${'-'.repeat(Math.min(Math.max(b.text.length, 3), 72))}`;
    case 'fields': {
      const rows = b.rows.filter(([, v]) => v !== null && v !== undefined && v !== '');
      const width = Math.max(0, ...rows.map(([k]) => k.length));
      return rows.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join('\n');
    }
    case 'list':
      return b.items.map((i) => `- ${i}`).join('\n');
    case 'code':
      return b.text
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n');
    case 'table':
      if (!b.rows.length) return b.empty;
      // `- first | Label: value | …`, leaving out empty cells
      return b.rows
        .map((r) => `- ${r.flatMap((c, i) => (i === 0 ? [c] : c ? [`${b.head[i] ?? ''}: ${c}`] : [])).join(' | ')}`)
        .join('\n');
  }
}

function htmlBlock(b: Block): string {
  const e = escapeHtml;
  switch (b.kind) {
    case 'p':
      return `<p>${e(b.text).replace(/\n/g, '<br>')}</p>`;
    case 'heading':
      return `<h3>${e(b.text)}</h3>`;
    case 'fields': {
      const rows = b.rows.filter(([, v]) => v !== null && v !== undefined && v !== '');
      return `<table role="presentation">${rows
        .map(([k, v]) => `<tr><th align="left">${e(k)}</th><td>${e(v ?? '')}</td></tr>`)
        .join('')}</table>`;
    }
    case 'list':
      return `<ul>${b.items.map((i) => `<li>${e(i)}</li>`).join('')}</ul>`;
    case 'code':
      return `<pre>${e(b.text)}</pre>`;
    case 'table':
      if (!b.rows.length) return `<p><em>${e(b.empty)}</em></p>`;
      return `<table border="1" cellpadding="4" cellspacing="0"><thead><tr>${b.head
        .map((h) => `<th align="left">${e(h)}</th>`)
        .join('')}</tr></thead><tbody>${b.rows
        .map((r) => `<tr>${r.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>`;
  }
}

/** Renders a message: the plain text body (blocks separated by blank lines, then a footer) and its escaped HTML twin. */
export function renderBlocks(subjectLine: string, blocks: readonly Block[]): RenderedMail {
  const text = `${blocks.map(textBlock).join('\n\n')}\n\n-- \n${FOOTER}\n`;
  const html =
    `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(subjectLine)}</title></head>` +
    `<body>${blocks.map(htmlBlock).join('\n')}<hr><p><small>${escapeHtml(FOOTER)}</small></p></body></html>`;
  return { subject: subjectLine, text, html };
}

// Shared field schemas for template data.
export const nameField = z.string().trim().min(1).max(300);
export const idField = z.string().trim().min(1).max(100);
export const dateField = z.coerce.date();
export const sha256Field = z
  .string()
  .regex(/^[0-9A-Fa-f:]{64,95}$/, 'a SHA-256 fingerprint (hex, colons allowed)')
  .describe('SHA-256 fingerprint');
export const urlField = z.url().max(2000);
