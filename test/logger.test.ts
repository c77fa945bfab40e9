import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, maskUrlPassword } from '../src/logger.js';

const capture = () => {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  return {
    stream,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
};

describe('createLogger', () => {
  it('writes JSON lines at the chosen level', () => {
    const out = capture();
    const log = createLogger({ level: 'warn', destination: out.stream });
    log.info('hidden');
    log.warn({ session_id: '7' }, 'shown');
    expect(out.lines()).toEqual([expect.objectContaining({ level: 40, session_id: '7', msg: 'shown' })]);
  });

  it('never writes a redacted value, in the root or a child', () => {
    const out = capture();
    const log = createLogger({ level: 'trace', destination: out.stream });
    const child = log.child({ session_id: '1' });
    child.info(
      {
        req: { headers: { authorization: 'Bearer SECRET-JWT', 'x-backup-passphrase': 'SECRET-PASS' } },
        body: { passphrase: 'SECRET-PASS2' },
        qr: '2@ref,noise,identity,SECRET-ADV',
        update: { qr: '2@ref,noise,identity,SECRET-ADV2' },
        creds: { advSecretKey: 'SECRET-ADV3' },
        state: { creds: { noiseKey: 'SECRET-NOISE' }, keys: { 'pre-key': 'SECRET-PREKEY' } },
        session: { proxy_url: 'http://bob:SECRET-PROXY@proxy.example.com:8080' },
        proxyUrl: 'socks5://alice:SECRET-PROXY2@10.0.0.1:1080',
      },
      'everything secret',
    );
    const text = out.text();
    expect(text).not.toMatch(/SECRET/);
    const [line] = out.lines();
    expect(line.req).toEqual({
      headers: { authorization: '[Redacted]', 'x-backup-passphrase': '[Redacted]' },
    });
    expect(line.qr).toBe('[Redacted]');
    expect(line.update).toEqual({ qr: '[Redacted]' });
    expect(line.session).toEqual({ proxy_url: 'http://bob:***@proxy.example.com:8080' });
    expect(line.proxyUrl).toBe('socks5://alice:***@10.0.0.1:1080');
  });
});

describe('maskUrlPassword', () => {
  it('keeps the URL readable and hides only the password', () => {
    expect(maskUrlPassword('http://user:p%40ss@proxy:3128')).toBe('http://user:***@proxy:3128');
    expect(maskUrlPassword('http://proxy:3128')).toBe('http://proxy:3128');
    expect(maskUrlPassword('not a url with secret')).toBe('[Redacted]');
  });

  it('masks passwords that the URL parser would re-encode', () => {
    expect(maskUrlPassword('socks5://u:pa:ss@h:1080')).toBe('socks5://u:***@h:1080');
    expect(maskUrlPassword('http://u:p;s=s[x]@h:3128')).toBe('http://u:***@h:3128');
    expect(maskUrlPassword('http://u:p@ss@h:3128')).toBe('http://u:***@h:3128');
    expect(maskUrlPassword('socks5h://only-user@h:1080')).toBe('socks5h://only-user@h:1080');
    expect(maskUrlPassword('u:secret@h:1080')).toBe('[Redacted]');
  });
});
