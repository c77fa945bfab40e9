import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { timestamps } from './base.entity.js';
import { WhatsappSession } from './whatsapp-session.entity.js';

/** One row per session: Baileys' `AuthenticationCreds`, encrypted. */
export const WhatsappAuthCreds = defineEntity({
  name: 'WhatsappAuthCreds',
  tableName: 'whatsapp_auth_creds',
  properties: {
    session: () => p.oneToOne(WhatsappSession).primary().mapToPk().owner().deleteRule('cascade'),
    /** iv ‖ ciphertext ‖ tag */
    value: p.blob(),
    encKeyId: p.string().length(16),
    ...timestamps(),
  },
});

export type WhatsappAuthCredsEntity = InferEntity<typeof WhatsappAuthCreds>;
