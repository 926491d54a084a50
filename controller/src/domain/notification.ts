/** A mail the controller sent or tried to send (SPEC N3). Bodies are kept for the sent-mail log; never secrets. */
export interface SentMail {
  id: string;
  at: Date;
  template: string;
  to: string[];
  subject: string;
  body: string;
  status: 'sent' | 'failed';
  error: string | null;
  messageId: string | null;
}
