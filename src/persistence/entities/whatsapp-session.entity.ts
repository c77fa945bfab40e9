import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import type { SessionStatus } from '../../../machines/session-view.js';
import { timestamps } from './base.entity.js';

export const SESSION_STATUSES = ['idle', 'connecting', 'qr', 'connected', 'backoff', 'failed'] as const;
export const DESIRED_STATES = ['running', 'stopped'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

// Both directions, so a new machine status breaks the build here instead of an insert at run time.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const statusesMatch: Same<(typeof SESSION_STATUSES)[number], SessionStatus> = true;
void statusesMatch;

export const WhatsappSession = defineEntity({
  name: 'WhatsappSession',
  tableName: 'whatsapp_session',
  properties: {
    id: p.integer().primary().autoincrement(),
    usuarioId: p.integer().index(),
    deviceName: p.string().length(255),
    phoneNumber: p.string().length(32).nullable(),
    status: p.enum([...SESSION_STATUSES]).default('idle'),
    desiredState: p.enum([...DESIRED_STATES]).default('stopped'),
    autoReconnect: p.boolean().default(true),
    reconnectAttempts: p.integer().default(0),
    lastReconnectAt: p.datetime().nullable(),
    proxyEnabled: p.boolean().default(false),
    /** `<key id>:<base64 of iv ‖ ciphertext ‖ tag>`, see secret-box.ts. */
    proxyUrl: p.text().nullable(),
    lastErrorCode: p.integer().nullable(),
    lastErrorReason: p.text().nullable(),
    lastErrorMessage: p.text().nullable(),
    lastErrorAt: p.datetime().nullable(),
    ...timestamps(),
    connectedAt: p.datetime().nullable(),
    disconnectedAt: p.datetime().nullable(),
  },
  indexes: [{ properties: ['desiredState'] }],
});

export type WhatsappSessionEntity = InferEntity<typeof WhatsappSession>;
