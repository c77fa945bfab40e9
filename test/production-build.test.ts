import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/free-port.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// What the Docker image runs: the compiled JavaScript under `node`, no tsx.
const root = join(import.meta.dirname, '..');
const entry = join(root, 'dist', 'src', 'main.js');
let database: TestDatabase | undefined;
let dataDir: string;

beforeAll(() => {
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
}, 300_000);
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'wa-production-build-'));
  // A server when there is one (faster); otherwise the embedded PGlite, as `docker run` without DATABASE_URL.
  if (process.env.TEST_DATABASE_URL) database = await createTestDatabase(import.meta.url);
});
afterAll(async () => {
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the production build (npm run build && node dist/src/main.js)', () => {
  it('emits the entry point with the migrations compiled beside it', () => {
    expect(existsSync(entry)).toBe(true);
    expect(existsSync(join(root, 'dist', 'src', 'persistence', 'migrations', 'index.js'))).toBe(true);
  });

  it('copies the static files under src/ (the live page) into dist/src', () => {
    const ui = join(root, 'src', 'ui');
    const files = existsSync(ui) ? readdirSync(ui).filter((f) => !/\.(ts|md)$/.test(f)) : [];
    for (const file of files) expect(existsSync(join(root, 'dist', 'src', 'ui', file)), file).toBe(true);
  });

  it('starts, answers /readyz with 200, and exits 0 on SIGTERM', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [entry], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        JWT_SECRET: randomBytes(24).toString('hex'),
        SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        LOG_LEVEL: 'warn',
        ...(database ? { DATABASE_URL: database.url } : {}),
      },
      stdio: 'pipe',
    });
    let output = '';
    child.stdout.on('data', (b) => {
      output += b;
    });
    child.stderr.on('data', (b) => {
      output += b;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let status = 0;
      const until = Date.now() + 90_000;
      while (status !== 200 && Date.now() < until && child.exitCode === null) {
        status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.status,
          () => 0,
        );
        if (status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      expect(status, output).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

      const stoppedAt = Date.now();
      child.kill('SIGTERM');
      expect(await exited, output).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
