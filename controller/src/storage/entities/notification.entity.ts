import { EntitySchema } from '@mikro-orm/core';
import type { SentMail } from '../../domain/notification';

export const SentMailEntity = new EntitySchema<SentMail>({
  name: 'SentMailRow',
  tableName: 'sent_mail',
  // W7 list pages newest first in (at, id) order from this index (issue 6).
  indexes: [
    { name: 'sent_mail_at_id_idx', properties: ['at', 'id'] },
    { name: 'sent_mail_status_at_id_idx', properties: ['status', 'at', 'id'] },
    { name: 'sent_mail_template_at_id_idx', properties: ['template', 'at', 'id'] },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    at: { type: 'datetime', columnType: 'timestamptz', index: true },
    template: { type: 'string', length: 50 },
    to: { type: 'json' },
    subject: { type: 'text' },
    body: { type: 'text' },
    status: { type: 'string', length: 10 },
    error: { type: 'text', nullable: true },
    messageId: { type: 'string', length: 300, nullable: true },
  },
});
