#!/usr/bin/env node
// Records the package version and the git commit of this build in
// dist/build-info.json (src/version.ts reads it for --version). The commit is
// $GIT_COMMIT when set (an image build without .git passes it in),
// else `git rev-parse HEAD` with "-dirty" when tracked files have uncommitted
// changes, else "unknown" (no git, or not a repository).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** @param {string[]} args */
function git(...args) {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

function commit() {
  const given = process.env.GIT_COMMIT?.trim();
  if (given) return given;
  try {
    // The repository must be this package's own, not one that merely contains it.
    if (realpathSync(git('rev-parse', '--show-toplevel')) !== realpathSync(root)) return 'unknown';
    const head = git('rev-parse', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? head : `${head}-dirty`;
  } catch {
    return 'unknown';
  }
}

const info = { version, commit: commit() };
mkdirSync(join(root, 'dist'), { recursive: true });
writeFileSync(join(root, 'dist', 'build-info.json'), `${JSON.stringify(info, null, 2)}\n`);
