/**
 * The shared tokens clients must present, read from a file (a mounted
 * Secret, in a cluster) and re-read when it changes, so a token is rotated
 * without a restart: write the new token beside the old one, move the
 * clients over, then remove the old one. A token is accepted exactly as long
 * as it is in the file (plus at most one poll interval).
 *
 * Tokens are kept only as SHA-256 digests and compared in constant time, so
 * neither their content nor their length leaks through timing, and nothing
 * here can print one.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../../core/ports.js';

/** Shorter tokens are guessable; 16 visible ASCII characters are ~100 bits when random. */
export const MIN_TOKEN_LENGTH = 16;
/** Metadata values must be visible ASCII; a space would split the header. */
const TOKEN = /^[\x21-\x7e]+$/;

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * The tokens in a file's text: one per line; blank lines and lines starting
 * with # are skipped. Problems name the line, never its content.
 */
export function parseTokens(text: string): { tokens: string[]; problems: string[] } {
  const tokens: string[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (!TOKEN.test(line)) problems.push(`line ${i + 1}: a token must be visible ASCII without spaces`);
    else if (line.length < MIN_TOKEN_LENGTH) problems.push(`line ${i + 1}: a token must be at least ${MIN_TOKEN_LENGTH} characters`);
    else tokens.push(line);
  });
  if (tokens.length === 0 && problems.length === 0) problems.push('no token in the file');
  return { tokens, problems };
}

export interface TokenFileOptions {
  /** How often the file is checked for a change. */
  readonly pollMs?: number;
}

/** What decides whether a presented token is valid. */
export interface TokenVerifier {
  verify(presented: string): boolean;
}

export class TokenFile implements TokenVerifier {
  private digests: readonly Buffer[] = [];
  private version = '';
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly path: string,
    private readonly log: Logger,
    private readonly pollMs: number,
  ) {}

  /** Reads the file once; an unreadable file or one without a valid token is a start-up error. */
  static open(path: string, log: Logger, options: TokenFileOptions = {}): TokenFile {
    const file = new TokenFile(path, log, options.pollMs ?? 1000);
    const problem = file.reload();
    if (problem) throw new Error(`server.auth.token_file ${path}: ${problem}`);
    return file;
  }

  get size(): number {
    return this.digests.length;
  }

  /** Starts watching for changes (stat polling: a Secret volume swaps a symlink, which file watches miss). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  verify(presented: string): boolean {
    const d = digest(presented);
    let ok = false;
    // Every token is compared, whichever matches, so timing does not tell which (or whether an early one) did.
    for (const t of this.digests) ok = timingSafeEqual(d, t) || ok;
    return ok;
  }

  private poll(): void {
    let version: string;
    try {
      const st = statSync(this.path);
      version = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch (err) {
      version = `error:${(err as NodeJS.ErrnoException).code ?? 'unknown'}`;
    }
    if (version === this.version) return;
    const problem = this.reload();
    if (problem) this.log.error({ tokenFile: this.path, problem }, 'token file unusable; still accepting the tokens read before');
    else this.log.info({ tokenFile: this.path, tokens: this.digests.length }, 'token file reloaded');
  }

  /** Reads the file; on success replaces the tokens and returns undefined, else returns what is wrong and keeps the old ones. */
  private reload(): string | undefined {
    let text: string;
    let version: string;
    try {
      const st = statSync(this.path);
      version = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.version = `error:${code ?? 'unknown'}`;
      return code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : `cannot read: ${code ?? 'error'}`;
    }
    this.version = version;
    const { tokens, problems } = parseTokens(text);
    if (problems.length > 0) return problems.join('; ');
    this.digests = tokens.map(digest);
    return undefined;
  }
}
