#!/usr/bin/env node
/** Entry point: config, logger, daemon, signals (SIGTERM/SIGINT stop, SIGHUP reloads the config). */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { ConfigError, formatIssue, loadConfig, unknownEnv, type LoadContext } from './config/load.js';
import { planReload } from './config/reload.js';
import type { Config } from './config/schema.js';
import { createLogger } from './log.js';
import { startDaemon, type Daemon } from './daemon.js';
import { DomainError } from './core/errors.js';
import { buildInfo, versionLine } from './shared/version.js';

const USAGE = `Usage: k8s-provider [--config FILE]
       k8s-provider --check-config FILE

Lends this Kubernetes cluster to the iarnet control plane over gRPC.

  -c, --config FILE      the config file (default ./config.yaml)
  --check-config FILE    validate FILE (with the K8S_PROVIDER_* variables) and
                         print every problem with its line; exit 0 when valid
  -V, --version          print the version and the git commit of the build
  -h, --help             print this help

Every setting can also be set with an environment variable: K8S_PROVIDER_ and
the key path in upper case joined by "_" (K8S_PROVIDER_SERVER_PORT=50052).
SIGHUP, or a change of the file, reloads resource.cpu/memory/gpu and log.level.
`;

const context = (configPath: string): LoadContext => ({
  argv: ['--config', configPath],
  cwd: process.cwd(),
  readFile: (p) => readFileSync(p, 'utf8'),
  env: process.env,
});

/** --check-config: every problem, in file order, then the variables that name no setting. */
function checkConfig(file: string): number {
  const warnings = unknownEnv(process.env).map((name) => `warning: ${name} names no setting (ignored)`);
  try {
    const { path } = loadConfig(context(file));
    for (const w of warnings) process.stdout.write(`${w}\n`);
    process.stdout.write(`${path}: ok\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const ordered = [...err.issues].sort((a, b) => (a.env ? 1 : 0) - (b.env ? 1 : 0) || (a.line ?? 0) - (b.line ?? 0));
    for (const issue of ordered) process.stdout.write(`${formatIssue(err.file, issue)}\n`);
    for (const w of warnings) process.stdout.write(`${w}\n`);
    process.stdout.write(`${err.issues.length} problem${err.issues.length === 1 ? '' : 's'} in ${err.file}\n`);
    return 1;
  }
}

/**
 * Re-reads the config on SIGHUP or when the file changes: resource.* quotas
 * and log.level take effect at once; anything else is logged as needing a
 * restart. An invalid file changes nothing.
 */
function watchConfig(path: string, initial: Config, daemon: Daemon, log: ReturnType<typeof createLogger>): () => void {
  let running = initial;
  const reload = (trigger: string): void => {
    let next: Config;
    try {
      next = loadConfig(context(path)).config;
    } catch (err) {
      log.error({ trigger, config: path, err: (err as Error).message }, 'config reload refused: the running config stays');
      return;
    }
    const plan = planReload(running, next);
    // Logged before a new level applies, so turning logging down still leaves this line.
    log.info(
      { trigger, config: path, applied: plan.applied, needRestart: plan.needRestart },
      plan.applied.length > 0 ? 'config reloaded' : 'config reloaded: nothing to apply',
    );
    if (plan.needRestart.length > 0) log.warn({ keys: plan.needRestart }, 'changed config keys take effect only after a restart');
    if (plan.applied.some((k) => k.startsWith('resource.'))) daemon.setQuota(next.resource);
    if (plan.applied.includes('log.level')) log.level = next.log.level;
    running = { ...running, resource: { ...running.resource, cpu: next.resource.cpu, memory: next.resource.memory, gpu: next.resource.gpu }, log: next.log };
  };
  const onHup = (): void => reload('SIGHUP');
  process.on('SIGHUP', onHup);
  // Polling stat follows symlinks, so a ConfigMap mounted as a directory (an atomic symlink swap) is seen too.
  const onChange = (now: Stats, before: Stats): void => {
    if (now.mtimeMs !== before.mtimeMs || now.ino !== before.ino || now.size !== before.size) reload('file changed');
  };
  watchFile(path, { interval: 2000, persistent: false }, onChange);
  return () => {
    process.off('SIGHUP', onHup);
    unwatchFile(path, onChange);
  };
}

/** --version, --help and --check-config answer and exit; undefined means: run the daemon. */
function answerOnly(argv: readonly string[]): number | undefined {
  const [first] = argv;
  if (argv.length === 1 && (first === '--version' || first === '-V')) {
    process.stdout.write(`${versionLine('k8s-provider', buildInfo())}\n`);
    return 0;
  }
  if (argv.length === 1 && (first === '--help' || first === '-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (first !== '--check-config' && !first?.startsWith('--check-config=')) return undefined;
  const inline = first.includes('=');
  const file = inline ? first.slice('--check-config='.length) : argv[1];
  if (!file || argv.length > (inline ? 1 : 2)) {
    process.stderr.write('k8s-provider: --check-config takes one FILE and nothing else\n');
    return 2;
  }
  return checkConfig(file);
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const answered = answerOnly(argv);
  if (answered !== undefined) return answered;
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ argv, cwd: process.cwd(), readFile: (p) => readFileSync(p, 'utf8'), env: process.env });
  } catch (err) {
    process.stderr.write(`k8s-provider: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
    return 2;
  }
  const log = createLogger(loaded.config.log.level);
  const build = buildInfo();
  log.info({ config: loaded.path, version: build.version, commit: build.commit }, 'starting');
  for (const warning of loaded.warnings) log.warn({ config: loaded.path }, warning);
  for (const name of unknownEnv(process.env)) log.warn({ variable: name }, 'environment variable names no setting (ignored)');

  // SIGHUP's default is to end the process; during start-up there is nothing to reload yet.
  const hupWhileStarting = (): void => log.warn('SIGHUP during start-up: ignored');
  process.on('SIGHUP', hupWhileStarting);
  // One listener per signal for the whole life of the process, whose action
  // changes when start-up ends. Swapping listeners instead lost a SIGTERM that
  // arrived just as start-up ended: the signal is queued for the listener of
  // the moment it arrives, and that one was gone by the time it was handled,
  // so the daemon kept running.
  let onStopSignal = (signal: NodeJS.Signals): void => {
    // Stopped before it serves: end at once, as the signal's default would, but
    // through process.exit so the buffered log lines are written first.
    log.info({ signal }, 'stopped during start-up');
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  const stopSignal = (signal: NodeJS.Signals): void => {
    // Once stopping, a second signal has the default effect again: it ends the process at once.
    process.off('SIGTERM', stopSignal);
    process.off('SIGINT', stopSignal);
    onStopSignal(signal);
  };
  process.on('SIGTERM', stopSignal);
  process.on('SIGINT', stopSignal);
  let daemon: Daemon;
  try {
    daemon = await startDaemon(loaded.config, log);
  } catch (err) {
    const kind = err instanceof DomainError ? err.kind : 'INTERNAL';
    log.fatal({ kind, err: (err as Error).message }, 'start-up failed');
    process.off('SIGTERM', stopSignal);
    process.off('SIGINT', stopSignal);
    return 1;
  }
  const unwatch = watchConfig(loaded.path, loaded.config, daemon, log);
  process.off('SIGHUP', hupWhileStarting);

  return new Promise<number>((resolve) => {
    onStopSignal = (signal) => {
      unwatch();
      log.info({ signal }, 'stopping: draining in-flight calls');
      daemon.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err: (err as Error).message }, 'error while stopping');
          resolve(1);
        },
      );
    };
  });
}

const code = await main();
process.exitCode = code;
// Lingering keep-alive sockets must not hold a stopped daemon open.
setTimeout(() => process.exit(code), 1000).unref();
