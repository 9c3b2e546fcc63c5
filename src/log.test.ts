import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, LOG_BUFFER, logOutput } from './log.js';

const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-log-'));

function sink(): { fd: number; lines: () => Array<Record<string, unknown>> } {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.log`);
  const fd = openSync(path, 'w');
  return {
    fd,
    lines: () =>
      readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger on the buffered output', () => {
  it('collects lines and writes them on the timer, in order, with the level applied', async () => {
    const out = sink();
    const output = logOutput({ fd: out.fd });
    const log = createLogger('info', output);
    for (let i = 0; i < 20; i++) log.info({ i }, 'rpc'); // less than the buffer's write size
    log.debug({ hidden: true }, 'not at info');
    expect(out.lines()).toEqual([]); // nothing written per line
    await new Promise((r) => setTimeout(r, LOG_BUFFER.flushMs * 3));
    const lines = out.lines();
    expect(lines.map((l) => l.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(lines.every((l) => l.msg === 'rpc' && l.level === 30 && l.service === 'k8s-provider')).toBe(true);
    expect(output.dropped()).toBe(0);
  });

  it('hands every line over when flushed synchronously, as on exit', () => {
    const out = sink();
    const output = logOutput({ fd: out.fd });
    const log = createLogger('info', output);
    const line = 'x'.repeat(200);
    const n = 3 * Math.ceil(LOG_BUFFER.minBytes / 200);
    for (let i = 0; i < n; i++) log.info({ line }, 'big');
    // The writes are asynchronous; flushSync stands for what the exit hook does.
    (output.stream as unknown as { flushSync(): void }).flushSync();
    expect(out.lines().length).toBe(n);
  });

  it('still redacts env values', async () => {
    const out = sink();
    const output = logOutput({ fd: out.fd, sync: true });
    createLogger('info', output).info({ env: { SECRET: 'v' }, spec: { envVars: { A: 'b' } } }, 'created');
    expect(out.lines()[0]).toMatchObject({ env: '[redacted]', spec: { envVars: '[redacted]' } });
  });
});
