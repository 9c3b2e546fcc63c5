#!/usr/bin/env node
/** Entry point: config, logger, daemon, signals. */
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from './config/load.js';
import { createLogger } from './log.js';
import { startDaemon } from './daemon.js';
import { DomainError } from './core/errors.js';
import { buildInfo, versionLine } from './version.js';

const USAGE = `Usage: k8s-provider [--config FILE]

Lends this Kubernetes cluster to the iarnet control plane over gRPC.

  -c, --config FILE   the config file (default ./config.yaml)
  -V, --version       print the version and the git commit of the build
  -h, --help          print this help
`;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`${versionLine('k8s-provider', buildInfo())}\n`);
    return 0;
  }
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let loaded;
  try {
    loaded = loadConfig({ argv, cwd: process.cwd(), readFile: (p) => readFileSync(p, 'utf8') });
  } catch (err) {
    process.stderr.write(`k8s-provider: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
    return 2;
  }
  const log = createLogger(loaded.config.log.level);
  const build = buildInfo();
  log.info({ config: loaded.path, version: build.version, commit: build.commit }, 'starting');

  let daemon;
  try {
    daemon = await startDaemon(loaded.config, log);
  } catch (err) {
    const kind = err instanceof DomainError ? err.kind : 'INTERNAL';
    log.fatal({ kind, err: (err as Error).message }, 'start-up failed');
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping: draining in-flight calls');
      daemon.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err: (err as Error).message }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

const code = await main();
process.exitCode = code;
// Lingering keep-alive sockets must not hold a stopped daemon open.
setTimeout(() => process.exit(code), 1000).unref();
