import { describe, expect, it } from 'vitest';
import { labelValue, workloadName } from './naming.js';

const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('workloadName', () => {
  it('keeps an id that is already a valid name', () => {
    expect(workloadName('comp-1')).toBe('comp-1');
  });

  it('adds a hash whenever sanitising changed the id', () => {
    expect(workloadName('Comp_1')).toMatch(/^comp-1-[0-9a-f]{8}$/);
    expect(workloadName('comp-1')).not.toBe(workloadName('Comp-1'));
    expect(workloadName('Comp-1')).not.toBe(workloadName('COMP-1'));
  });

  it('stays within 63 characters and distinct for long ids sharing a prefix', () => {
    const a = workloadName(`${'x'.repeat(100)}a`);
    const b = workloadName(`${'x'.repeat(100)}b`);
    expect(a).toHaveLength(63);
    expect(a).not.toBe(b);
  });

  it.each(['---', '日本語', '.hidden.', 'a/b/c', 'UPPER', '9lives', 'x'.repeat(253)])('turns %j into a valid RFC 1123 label', (id) => {
    const name = workloadName(id);
    expect(name).toMatch(RFC1123_LABEL);
    expect(name.length).toBeLessThanOrEqual(63);
  });
});

describe('labelValue', () => {
  it('keeps valid values, case included', () => {
    expect(labelValue('Comp_1.a')).toBe('Comp_1.a');
  });

  it.each(['a b', 'x'.repeat(64), '-lead', 'ü', 'cp:1/2'])('turns %j into a valid label value', (id) => {
    const v = labelValue(id);
    expect(v).toMatch(LABEL_VALUE);
    expect(v.length).toBeLessThanOrEqual(63);
    expect(v).not.toBe(id);
  });
});
