import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { WhatsappSession } from './whatsapp-session.entity.js';

/** Baileys' signal keys (`SignalDataTypeMap`), one encrypted row per (session, type, id). */
export const WhatsappAuthKey = defineEntity({
  name: 'WhatsappAuthKey',
  tableName: 'whatsapp_auth_key',
  properties: {
    session: () => p.manyToOne(WhatsappSession).primary().mapToPk().deleteRule('cascade'),
    type: p.string().length(32).primary(),
    /** The signal key's id (pre-key number, session address, ...), not the encryption key's. */
    keyId: p.string().length(255).primary(),
    /** iv ‖ ciphertext ‖ tag */
    value: p.blob(),
    encKeyId: p.string().length(16),
  },
});

export type WhatsappAuthKeyEntity = InferEntity<typeof WhatsappAuthKey>;
