import { describe, expect, it } from 'vitest';
import { wantsCompression } from './http.js';

describe('wantsCompression', () => {
  it('auto: not on loopback or the in-cluster Service address, where it only costs CPU', () => {
    for (const server of ['https://127.0.0.1:6443', 'https://127.5.0.1', 'https://localhost:6443', 'https://[::1]:6443']) {
      expect(wantsCompression('auto', server, undefined), server).toBe(false);
    }
    expect(wantsCompression('auto', 'https://10.96.0.1:443', '10.96.0.1')).toBe(false);
  });

  it('auto: yes for any other server, which may sit behind a slow link', () => {
    for (const server of ['https://10.96.0.1:443', 'https://api.example.com:6443', 'https://[2001:db8::1]:6443', 'not a url']) {
      expect(wantsCompression('auto', server, '10.0.0.9'), server).toBe(true);
    }
  });

  it('on and off are what they say, wherever the server is', () => {
    expect(wantsCompression('on', 'https://127.0.0.1:6443')).toBe(true);
    expect(wantsCompression('off', 'https://api.example.com')).toBe(false);
  });
});
