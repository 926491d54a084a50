import type { ComponentChildren, JSX } from 'preact';
import { ApiError } from '../api';

/**
 * Field errors from the controller's typed errors. A CF_VALIDATION answer carries `details.problems` as
 * `"body.subject.commonName: message"` (route validation) or `"subject.commonName: message"` (service validation);
 * each problem goes to the field whose path it names. `codeFields` sends other codes to a field (e.g.
 * CF_IMPORT_WRONG_PASSWORD → the password field). What matches no field stays a form-level error.
 */
export interface FormErrors {
  fields: Record<string, string>;
  /** The error to show above the form when no field took it (null otherwise). */
  form: unknown;
}

export const NO_ERRORS: FormErrors = { fields: {}, form: null };

export function formErrors(
  err: unknown,
  known: readonly string[],
  codeFields: Record<string, string> = {}
): FormErrors {
  if (!(err instanceof ApiError)) return { fields: {}, form: err };
  // The controller names the field itself where the code alone cannot tell (e.g. which of two passwords was wrong).
  const named =
    typeof err.details?.field === 'string' && known.includes(err.details.field) ? err.details.field : undefined;
  const byCode =
    named ?? codeFields[err.code] ?? (err.code.startsWith('CF_IMPORT_') ? codeFields.CF_IMPORT_ : undefined);
  if (byCode) return { fields: { [byCode]: `${err.message} (${err.code})` }, form: null };
  const problems = Array.isArray(err.details?.problems) ? (err.details.problems as unknown[]).map(String) : [];
  const fields: Record<string, string> = {};
  let unmatched = problems.length === 0;
  for (const p of problems) {
    const m = /^(?:body\.|query\.)?([A-Za-z0-9_.]+): (.*)$/.exec(p);
    const path = m?.[1] ?? '';
    // The longest known field that the problem's path starts with: "sans.0.value" → "sans".
    const field = [...known].sort((a, b) => b.length - a.length).find((k) => path === k || path.startsWith(`${k}.`));
    if (field && m) fields[field] = fields[field] ? `${fields[field]}; ${m[2]}` : (m[2] ?? p);
    else unmatched = true;
  }
  return { fields, form: unmatched ? err : null };
}

/** A labelled form field with its hint and its error, wired with aria-describedby / aria-invalid. */
export function Field(props: {
  id: string;
  label: string;
  error?: string | undefined;
  hint?: string;
  children: (aria: { id: string; 'aria-invalid'?: 'true'; 'aria-describedby'?: string }) => ComponentChildren;
}): JSX.Element {
  const described = [props.hint ? `${props.id}-hint` : '', props.error ? `${props.id}-error` : '']
    .filter(Boolean)
    .join(' ');
  return (
    <div class="field form-field">
      <label for={props.id}>{props.label}</label>
      {props.children({
        id: props.id,
        ...(props.error ? { 'aria-invalid': 'true' as const } : {}),
        ...(described ? { 'aria-describedby': described } : {}),
      })}
      {props.hint ? (
        <p class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </p>
      ) : null}
      {props.error ? (
        <p class="error field-error" role="alert" id={`${props.id}-error`}>
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

/** Reads a picked file as base64 (for the JSON import body). */
export async function fileToBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Offers a Blob as a file download (an object URL on a temporary anchor; no inline script). */
export function downloadBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
