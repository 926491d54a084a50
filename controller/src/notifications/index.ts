/** Notifications (SPEC N1–N3): SMTP settings, the mailer with its sent-mail log, and the mail templates. */
export * from './smtp-settings';
export * from './mailer';
export * from './templates';
