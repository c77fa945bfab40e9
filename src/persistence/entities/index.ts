import { WhatsappAuthCreds } from './whatsapp-auth-creds.entity.js';
import { WhatsappAuthKey } from './whatsapp-auth-key.entity.js';
import { WhatsappSession } from './whatsapp-session.entity.js';
import { WhatsappSessionEvent } from './whatsapp-session-event.entity.js';

export * from './whatsapp-auth-creds.entity.js';
export * from './whatsapp-auth-key.entity.js';
export * from './whatsapp-session.entity.js';
export * from './whatsapp-session-event.entity.js';

/** Every entity the ORM knows; the config and the migrations are built from this list. */
export const entities = [WhatsappSession, WhatsappAuthCreds, WhatsappAuthKey, WhatsappSessionEvent];
