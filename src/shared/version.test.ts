import { describe, expect, it } from 'vitest';
import { parseBuildInfo, versionLine } from './version.js';

describe('build info', () => {
  it('reads the recorded version and commit', () => {
    expect(parseBuildInfo('{"version":"1.2.3","commit":"0123456789abcdef0123456789abcdef01234567"}')).toEqual({
      version: '1.2.3',
      commit: '0123456789abcdef0123456789abcdef01234567',
    });
  });

  it('says unknown for what was not recorded', () => {
    expect(parseBuildInfo(undefined)).toEqual({ version: 'unknown', commit: 'unknown' });
    expect(parseBuildInfo('not json')).toEqual({ version: 'unknown', commit: 'unknown' });
    expect(parseBuildInfo('{"version":"1.2.3","commit":""}')).toEqual({ version: '1.2.3', commit: 'unknown' });
    expect(parseBuildInfo('{"version":7}')).toEqual({ version: 'unknown', commit: 'unknown' });
  });

  it('prints one line naming the program', () => {
    expect(versionLine('k8s-provider', { version: '0.1.0', commit: 'abc' })).toBe('k8s-provider 0.1.0 (commit abc)');
  });
});
