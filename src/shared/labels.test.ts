import { describe, expect, it } from 'vitest';
import * as labels from './labels.js';

describe('label and annotation keys', () => {
  // Operators select on these (README, Labels) and a restarted or upgraded daemon must recognise
  // what an older one created: the keys are a contract, and the tests import them from here.
  it('are the documented keys', () => {
    expect(labels).toMatchObject({
      LABEL_MANAGED: 'iarnet.managed',
      LABEL_PROVIDER_ID: 'iarnet.provider_id',
      LABEL_INSTANCE_ID: 'iarnet.instance_id',
      ANNOTATION_INSTANCE_ID: 'iarnet.instance_id',
      ANNOTATION_PROVIDER_ID: 'iarnet.provider_id',
      ANNOTATION_SPEC_HASH: 'iarnet.spec_hash',
      ANNOTATION_CLEANUP_POLICY: 'iarnet.cleanup_policy',
    });
  });

  it('select what the daemon manages, with the configured extra terms', () => {
    expect(labels.managedSelector({})).toBe('iarnet.managed=true');
    expect(labels.managedSelector({ team: 'ops' })).toBe('iarnet.managed=true,team=ops');
    expect(labels.selectorLabels('a=b, c=d')).toEqual({ a: 'b', c: 'd' });
  });
});
