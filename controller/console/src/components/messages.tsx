import type { ComponentChildren, JSX } from 'preact';
import { ApiError } from '../api';

/** Text of an error for display: the controller's message with its code (so operators can look it up). */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.code.startsWith('CF_') ? `${err.message} (${err.code})` : err.message;
  return err instanceof Error ? err.message : String(err);
}

/** An error next to the form or control it belongs to; announced by screen readers (role=alert). */
export function ErrorText({ error, id }: { error: unknown; id?: string }): JSX.Element | null {
  if (error === null || error === undefined) return null;
  return (
    <p class="error" role="alert" id={id}>
      {errorText(error)}
    </p>
  );
}

/** A success or progress notice (polite live region). */
export function Notice({ children }: { children?: ComponentChildren }): JSX.Element | null {
  if (children === null || children === undefined || children === false) return null;
  return (
    <p class="notice" role="status">
      {children}
    </p>
  );
}

/** A status value with a coloured marker; the text always carries the meaning (never colour alone). */
export function StatusBadge({ state, label }: { state: string; label: string }): JSX.Element {
  return <span class={`badge badge-${state}`}>{label}</span>;
}
