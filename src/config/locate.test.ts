import { describe, expect, it } from 'vitest';
import { LineCounter, parseDocument } from 'yaml';
import { lineOf } from './locate.js';

const text = `# comment
server:
  port: 70000
  tls:
    cert_file: a

resource: {cpu: 1, memory: 2, gpus: 3}
resource_tags:
  - cpu
  - camra
`;

describe('lineOf', () => {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const at = (...path: (string | number)[]): number | undefined => lineOf(doc, lines, path);

  it('finds the line of a key, in block and flow style and in lists', () => {
    expect(at('server')).toBe(2);
    expect(at('server', 'port')).toBe(3);
    expect(at('server', 'tls', 'cert_file')).toBe(5);
    expect(at('resource', 'gpus')).toBe(7);
    expect(at('resource_tags', 1)).toBe(10);
  });

  it('reports a missing key at the mapping that should hold it', () => {
    expect(at('server', 'tls', 'key_file')).toBe(4);
    expect(at('jobs', 'timeout_seconds')).toBe(2);
  });
});
