import { describe, expect, it } from 'vitest';
import { fullyQualified, globToRegExp, ImagePolicy, parseImageReference, type ImageReference } from './images.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

function parsed(image: string): ImageReference {
  const r = parseImageReference(image);
  if (typeof r === 'string') throw new Error(`${image}: ${r}`);
  return r;
}

describe('parseImageReference', () => {
  it.each<[string, ImageReference, string]>([
    ['busybox', { domain: undefined, path: 'busybox', tag: undefined, digest: undefined }, 'docker.io/library/busybox:latest'],
    ['busybox:1.36', { domain: undefined, path: 'busybox', tag: '1.36', digest: undefined }, 'docker.io/library/busybox:1.36'],
    ['iarnet/component:py', { domain: undefined, path: 'iarnet/component', tag: 'py', digest: undefined }, 'docker.io/iarnet/component:py'],
    ['localhost:5000/a/b', { domain: 'localhost:5000', path: 'a/b', tag: undefined, digest: undefined }, 'localhost:5000/a/b:latest'],
    ['localhost/a', { domain: 'localhost', path: 'a', tag: undefined, digest: undefined }, 'localhost/a:latest'],
    ['ghcr.io/org/x_y__z-w.v:V1_2', { domain: 'ghcr.io', path: 'org/x_y__z-w.v', tag: 'V1_2', digest: undefined }, 'ghcr.io/org/x_y__z-w.v:V1_2'],
    [`repo@${DIGEST}`, { domain: undefined, path: 'repo', tag: undefined, digest: DIGEST }, `docker.io/library/repo@${DIGEST}`],
    [`r.io:443/a:t@${DIGEST}`, { domain: 'r.io:443', path: 'a', tag: 't', digest: DIGEST }, `r.io:443/a:t@${DIGEST}`],
    ['[::1]:5000/a', { domain: '[::1]:5000', path: 'a', tag: undefined, digest: undefined }, '[::1]:5000/a:latest'],
  ])('parses %s', (image, ref, qualified) => {
    expect(parsed(image)).toEqual(ref);
    expect(fullyQualified(ref)).toBe(qualified);
  });

  it.each([
    ['', 'is empty'],
    ['Busybox', 'malformed repository path'],
    ['a//b', 'malformed repository path'],
    ['a/', 'malformed repository path'],
    ['-a', 'malformed repository path'],
    ['a:', 'malformed tag'],
    ['a:.x', 'malformed tag'],
    [`a:${'t'.repeat(129)}`, 'malformed tag'],
    ['a@sha256:abc', 'malformed digest'],
    ['a@', 'malformed digest'],
    ['-bad.io/a', 'malformed registry'],
    ['../etc/passwd', 'malformed registry ".."'],
    ['a/../b', 'malformed repository path'],
    [`${'a'.repeat(256)}`, 'longer than 255'],
  ])('refuses %j', (image, problem) => {
    expect(parseImageReference(image)).toContain(problem);
  });
});

describe('ImagePolicy', () => {
  it('allows everything without patterns', () => {
    expect(new ImagePolicy([]).allows(parsed('anything/at:all'))).toBe(true);
  });

  it('matches the fully-qualified reference, a whole repository without a tag, and * within one segment', () => {
    const policy = new ImagePolicy(['docker.io/library/busybox', 'registry.example.com/iarnet/*', 'ghcr.io/org/**', 'docker.io/library/nginx:1.*']);
    const allowed = [
      'busybox',
      'busybox:1.36',
      'docker.io/library/busybox:latest',
      `busybox@${DIGEST}`,
      'registry.example.com/iarnet/comp:1',
      'ghcr.io/org/a/b/c:d',
      'nginx:1.27',
    ];
    const refused = [
      'nginx',
      'nginx:latest',
      'registry.example.com/iarnet/deeper/comp',
      'registry.example.com/other',
      'evil.io/docker.io/library/busybox',
      'busyboxx',
      'ghcr.io/orgx/a',
    ];
    for (const image of allowed) expect(policy.allows(parsed(image)), image).toBe(true);
    for (const image of refused) expect(policy.allows(parsed(image)), image).toBe(false);
  });

  it('treats every character of a pattern literally except the wildcards', () => {
    expect(globToRegExp('a.b/c+d?').test('a.b/c+d?')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });
});
