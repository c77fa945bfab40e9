import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { WhatsappSession } from './whatsapp-session.entity.js';

/** Append-only log of a session's state transitions. */
export const WhatsappSessionEvent = defineEntity({
  name: 'WhatsappSessionEvent',
  tableName: 'whatsapp_session_event',
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    session: () => p.manyToOne(WhatsappSession).mapToPk().deleteRule('cascade'),
    at: p.datetime(),
    from: p.text(),
    to: p.text(),
    event: p.text(),
    attempt: p.integer(),
    delayMs: p.integer().nullable(),
    reason: p.text().nullable(),
    code: p.integer().nullable(),
    taskId: p.text().nullable(),
  },
  indexes: [
    { name: 'whatsapp_session_event_session_id_at_index', properties: ['session', 'at'] },
    { name: 'whatsapp_session_event_session_id_task_id_index', properties: ['session', 'taskId'] },
  ],
});

export type WhatsappSessionEventEntity = InferEntity<typeof WhatsappSessionEvent>;
