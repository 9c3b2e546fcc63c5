#!/usr/bin/env node
/** Entry point: config, logger, daemon, signals. */
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from './config/load.js';
import { createLogger } from './log.js';
import { startDaemon } from './daemon.js';
import { DomainError } from './core/errors.js';

async function main(): Promise<number> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ argv: process.argv.slice(2), cwd: process.cwd(), readFile: (p) => readFileSync(p, 'utf8') });
  } catch (err) {
    process.stderr.write(`k8s-provider: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
    return 2;
  }
  const log = createLogger(loaded.config.log.level);
  log.info({ config: loaded.path }, 'starting');
  for (const warning of loaded.warnings) log.warn({ config: loaded.path }, warning);

  let daemon: Awaited<ReturnType<typeof startDaemon>>;
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
