/** Sends a templated mail to the administrator; implementations never throw (a failed mail must not fail a process). */
export interface Notifier {
  notify(template: string, data: Record<string, unknown>): Promise<void>;
}

/** A notifier that only records what it was asked to send (tests, and controllers without SMTP). */
export function recordingNotifier(): Notifier & { sent: Array<{ template: string; data: Record<string, unknown> }> } {
  const sent: Array<{ template: string; data: Record<string, unknown> }> = [];
  return {
    sent,
    notify: async (template, data) => {
      sent.push({ template, data });
    },
  };
}
