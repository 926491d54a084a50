import { EntitySchema } from '@mikro-orm/core';
import type { SentMail } from '../../domain/notification';

export const SentMailEntity = new EntitySchema<SentMail>({
  name: 'SentMailRow',
  tableName: 'sent_mail',
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
