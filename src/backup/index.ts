export * from './backup-file.js';
export * from './backup-service.js';
export * from './session-payload.js';
