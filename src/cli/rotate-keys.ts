import { resolve } from 'node:path';
import { createLogger } from '../logger.js';
import { openDatabase } from '../persistence/database.js';
import { rotateEncryptionKeys } from '../persistence/rotate-keys.js';
import { loadKeyring } from '../persistence/secret-box.js';

// npm run keys:rotate: SESSION_ENCRYPTION_KEY is the new key, SESSION_ENCRYPTION_KEY_PREVIOUS the old one(s).
const env = process.env;
const logger = createLogger({ level: env.LOG_LEVEL === 'debug' ? 'debug' : 'info' });
const dataDir = resolve(env.DATA_DIR?.trim() || './data');

try {
  const keyring = await loadKeyring({ env, dataDir, logger });
  if (keyring.keyIds.length === 1) {
    logger.warn(
      'SESSION_ENCRYPTION_KEY_PREVIOUS is unset: only values already on the current key can be read',
    );
  }
  const db = await openDatabase({ databaseUrl: env.DATABASE_URL?.trim() || undefined, dataDir, logger });
  try {
    const result = await rotateEncryptionKeys({ orm: db.orm, keyring, logger });
    logger.info({ ...result, keyId: keyring.currentKeyId }, 'every encrypted value is on the current key');
  } finally {
    await db.close();
  }
} catch (err) {
  logger.fatal({ err }, 'key rotation stopped');
  process.exitCode = 1;
}
