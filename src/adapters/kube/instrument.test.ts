import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { errorCodeOf, instrumentApi, type KubeApiObserver } from './instrument.js';

class Api {
  calls = 0;
  async readThing(name: string): Promise<string> {
    this.calls++;
    return `thing ${name}`;
  }
  async forbidden(): Promise<never> {
    throw new ApiException(403, 'Forbidden', '{"message":"no"}', {});
  }
  async unreachable(): Promise<never> {
    throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  }
  plain(): number {
    return 7;
  }
}

function recorder(): KubeApiObserver & { seen: Array<[string, string | undefined]> } {
  const seen: Array<[string, string | undefined]> = [];
  return { seen, apiCallFinished: (op, _s, code) => void seen.push([op, code]) };
}

describe('instrumentApi', () => {
  it('reports each promise-returning call with its outcome and passes results and errors through', async () => {
    const api = new Api();
    const obs = recorder();
    const wrapped = instrumentApi(api, obs);
    expect(wrapped).toBeInstanceOf(Api);
    expect(await wrapped.readThing('a')).toBe('thing a');
    expect(api.calls).toBe(1);
    await expect(wrapped.forbidden()).rejects.toBeInstanceOf(ApiException);
    await expect(wrapped.unreachable()).rejects.toThrow('ECONNREFUSED');
    expect(wrapped.plain()).toBe(7);
    expect(obs.seen).toEqual([
      ['readThing', undefined],
      ['forbidden', '403'],
      ['unreachable', 'network'],
    ]);
  });

  it('names HTTP statuses and transport failures', () => {
    expect(errorCodeOf(new ApiException(409, 'Conflict', '', {}))).toBe('409');
    expect(errorCodeOf(new Error('socket hang up'))).toBe('network');
  });
});
