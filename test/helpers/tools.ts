/**
 * The command-line tools some integration tests run (helm, promtool, the
 * prometheus-operator CRDs), built on first use by test/tools/build.sh from
 * pinned Go modules and cached in $TOOLS_BIN (default .tools/bin). A cold
 * build takes minutes, so callers give their beforeAll TOOL_BUILD_TIMEOUT_MS.
 */
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const buildScript = path.join(repoRoot, 'test', 'tools', 'build.sh');

/** Directory of the built tools. */
export const toolsBin = path.resolve(repoRoot, process.env.TOOLS_BIN ?? '.tools/bin');

/** Generous: a cold build of promtool on two busy cores. */
export const TOOL_BUILD_TIMEOUT_MS = 45 * 60_000;

export type Tool = 'helm' | 'promtool' | 'crds';

const builds = new Map<Tool, Promise<string>>();

/** Builds `tool` if missing or stale (once per process) and returns its path (the directory for crds). */
export function tool(name: Tool): Promise<string> {
  let p = builds.get(name);
  if (!p) {
    p = new Promise<string>((resolve, reject) => {
      const child = spawn('bash', [buildScript, name], {
        cwd: repoRoot,
        env: { ...process.env, TOOLS_BIN: toolsBin },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve(path.join(toolsBin, name)) : reject(new Error(`test/tools/build.sh ${name} failed with exit code ${code}; see the output above`)),
      );
    });
    builds.set(name, p);
  }
  return p;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a built tool; never throws for a non-zero exit (tests assert on it). */
export function runTool(file: string, args: readonly string[], options: { input?: string; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        cwd: options.cwd ?? repoRoot,
        maxBuffer: 64 * 1024 * 1024,
        env: {
          ...process.env,
          HELM_CACHE_HOME: path.join(toolsBin, '.helm-cache'),
          HELM_CONFIG_HOME: path.join(toolsBin, '.helm-config'),
          HELM_DATA_HOME: path.join(toolsBin, '.helm-data'),
        },
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
