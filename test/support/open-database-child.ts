// Child process for the DATA_DIR lock test: opens the embedded database in argv[2] and reports.
import { pino } from 'pino';
import { openDatabase } from '../../src/persistence/database.js';

try {
  const db = await openDatabase({ dataDir: process.argv[2], logger: pino({ level: 'silent' }) });
  process.stdout.write('opened\n');
  await db.close();
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 3;
}
