/**
 * Container image references: the grammar container runtimes accept, the
 * fully-qualified form they pull, and the operator's allow-list. Pure; a
 * reference the runtime would refuse is caught here, before anything is
 * created, instead of surfacing later as a pod stuck in InvalidImageName.
 */

/** The parts of a reference, as written: `[domain/]path[:tag][@digest]`. */
export interface ImageReference {
  readonly domain: string | undefined;
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])`;
const DOMAIN = new RegExp(`^${HOST}(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
/** distribution/reference's limit on the name (domain and path). */
export const MAX_IMAGE_NAME_LENGTH = 255;

const DEFAULT_DOMAIN = 'docker.io';

/** Parses a reference, or returns what is wrong with it (never throws). */
export function parseImageReference(image: string): ImageReference | string {
  if (image === '') return 'is empty';
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const rest = at >= 0 ? image.slice(0, at) : image;
  if (digest !== undefined && !DIGEST.test(digest)) return `has a malformed digest (algorithm:hex, at least 32 hex digits)`;

  // A colon after the last slash starts the tag; one before it belongs to a registry port.
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  const tag = colon > slash ? rest.slice(colon + 1) : undefined;
  const name = colon > slash ? rest.slice(0, colon) : rest;
  if (tag !== undefined && !TAG.test(tag)) return 'has a malformed tag (at most 128 letters, digits, "_", "." or "-", not starting with "." or "-")';
  if (name.length > MAX_IMAGE_NAME_LENGTH) return `has a name longer than ${MAX_IMAGE_NAME_LENGTH} characters`;

  const parts = name.split('/');
  const first = parts[0] ?? '';
  // As Docker decides: the first part is a registry if it looks like a host.
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  const domain = hasDomain ? first : undefined;
  const path = hasDomain ? parts.slice(1) : parts;
  if (domain !== undefined && !DOMAIN.test(domain)) return `has a malformed registry "${domain}"`;
  if (path.length === 0 || !path.every((p) => PATH_COMPONENT.test(p))) {
    return 'has a malformed repository path (lowercase letters and digits, separated by ".", "_", "__", "-" or "/")';
  }
  return { domain, path: path.join('/'), tag, digest };
}

/** The repository a runtime pulls from: `busybox` is `docker.io/library/busybox`. */
export function qualifiedName(ref: ImageReference): string {
  const domain = ref.domain ?? DEFAULT_DOMAIN;
  const path = domain === DEFAULT_DOMAIN && !ref.path.includes('/') ? `library/${ref.path}` : ref.path;
  return `${domain}/${path}`;
}

/** The reference a runtime pulls: `busybox` is `docker.io/library/busybox:latest`. */
export function fullyQualified(ref: ImageReference): string {
  const tag = ref.tag ?? (ref.digest === undefined ? 'latest' : undefined);
  return `${qualifiedName(ref)}${tag !== undefined ? `:${tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/**
 * The operator's allow-list. Patterns are matched against the
 * fully-qualified reference, so how a client spells an image (`busybox`,
 * `docker.io/library/busybox:latest`) cannot slip past a pattern. A pattern
 * matches the whole reference (`docker.io/library/busybox:1.36`) or, without
 * a tag or digest, every tag of a repository (`docker.io/library/busybox`).
 * `*` matches within one path segment, `**` across segments. An empty list
 * allows every image.
 */
export class ImagePolicy {
  private readonly patterns: ReadonlyArray<{ readonly source: string; readonly re: RegExp }>;

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.map((source) => ({ source, re: globToRegExp(source) }));
  }

  get restricted(): boolean {
    return this.patterns.length > 0;
  }

  /** True when the reference matches some pattern, or when there is no list. */
  allows(ref: ImageReference): boolean {
    if (!this.restricted) return true;
    const full = fullyQualified(ref);
    const name = qualifiedName(ref);
    return this.patterns.some((p) => p.re.test(full) || p.re.test(name));
  }
}

export function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '*' && pattern[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else out += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
