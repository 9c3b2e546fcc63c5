/**
 * The version of this build: the package version and the git commit it was
 * built from, recorded by scripts/build-info.mjs into dist/build-info.json at
 * build time. A running daemon never asks git (an installed package or an
 * image has no repository); what was not recorded is "unknown".
 */
import { readFileSync } from 'node:fs';

export interface BuildInfo {
  readonly version: string;
  readonly commit: string;
}

export const UNKNOWN = 'unknown';

/** Parses the recorded build info; anything missing or malformed is "unknown". */
export function parseBuildInfo(text: string | undefined): BuildInfo {
  let raw: unknown;
  try {
    raw = text === undefined ? undefined : JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const field = (name: string): string => {
    const v = raw && typeof raw === 'object' ? (raw as Record<string, unknown>)[name] : undefined;
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : UNKNOWN;
  };
  return { version: field('version'), commit: field('commit') };
}

/** dist/build-info.json: this module runs from dist/src/shared. */
export function buildInfo(): BuildInfo {
  let text: string | undefined;
  try {
    text = readFileSync(new URL('../../build-info.json', import.meta.url), 'utf8');
  } catch {
    text = undefined;
  }
  return parseBuildInfo(text);
}

/** "k8s-provider 0.1.0 (commit 1a2b3c4...)", as --version prints it. */
export function versionLine(program: string, info: BuildInfo): string {
  return `${program} ${info.version} (commit ${info.commit})`;
}
