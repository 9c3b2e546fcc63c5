/**
 * The processes the load bench measures, each a child with --expose-gc and
 * probe.mjs preloaded so its memory can be read after GC: the built daemon
 * (dist/src/main.js with a config file), the bare grpc-js server and the
 * floor process.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './util.mjs';

const PROBE = join(ROOT, 'scripts/bench/probe.mjs');

/**
 * The V8 flags the daemon ships with (the Dockerfile's ENTRYPOINT and npm
 * start): a young generation capped at 2 MiB semi-spaces. Left to grow, V8
 * keeps up to 16 MiB per semi-space committed after start-up and busy spells,
 * which was most of the daemon's RSS above the floor; scavenges of a 2 MiB
 * space cost little next to a call's own work. And no allocation-site
 * pretenuring: started under CPU contention, a third of the daemons without it
 * kept the young objects of finished calls alive through scavenges until the
 * next full GC, for the rest of the process's life (see the README's Measuring).
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=2', '--no-allocation-site-pretenuring'];

/** @typedef {{ rss: number, heapUsed: number, heapTotal: number, external: number, newSpace: number, cpuUserUs: number, cpuSystemUs: number, gc: boolean }} Memory */

/**
 * @typedef {object} Measured
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} spawnedAt performance.now() at spawn
 * @property {() => Promise<Memory>} memory  memoryUsage() after GC, in bytes
 * @property {() => Promise<void>} ready   resolves when the process wrote "ready" (bare server, floor)
 * @property {() => Promise<number | null>} stop
 */

/**
 * @param {string} name
 * @param {string[]} args node arguments after the bench's own flags
 * @param {{ logFile?: string, nodeFlags?: string[] }} [o]
 * @returns {Measured}
 */
export function spawnMeasured(name, args, o = {}) {
  const child = spawn(process.execPath, ['--expose-gc', '--import', PROBE, ...(o.nodeFlags ?? []), ...args], {
    cwd: ROOT,
    stdio: ['ignore', o.logFile ? 'pipe' : 'ignore', 'pipe'],
  });
  const spawnedAt = performance.now();
  if (o.logFile && child.stdout) child.stdout.pipe(createWriteStream(o.logFile));
  /** @type {((line: string) => void)[]} */
  const waiters = [];
  let stderrTail = '';
  let buffered = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (/** @type {string} */ chunk) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      stderrTail = `${stderrTail}\n${line}`.slice(-2000);
      for (const w of waiters.splice(0)) w(line);
    }
  });
  /** @type {Promise<number | null>} */
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  /** @param {(line: string) => boolean} match @param {number} timeoutMs @returns {Promise<string>} */
  const nextLine = (match, timeoutMs) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no answer within ${timeoutMs} ms; stderr: ${stderrTail}`)), timeoutMs);
      const gone = () => reject(new Error(`${name} exited; stderr: ${stderrTail}`));
      void exited.then(gone);
      const wait = (/** @type {string} */ line) => {
        if (match(line)) {
          clearTimeout(timer);
          resolve(line);
        } else waiters.push(wait);
      };
      waiters.push(wait);
    });
  return {
    child,
    spawnedAt,
    async memory() {
      const line = nextLine((l) => l.startsWith('probe '), 20_000);
      child.kill('SIGUSR2');
      return JSON.parse((await line).slice('probe '.length));
    },
    async ready() {
      await nextLine((l) => l === 'ready', 60_000);
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * The built daemon with a config written for the bench: static capacity far
 * above what the bench deploys, instance limit off the way, info logs to a file.
 * @param {{ dir: string, kubeconfig: string, namespace: string, port: number, metricsPort: number, tag: string, nodeFlags?: string[] }} o
 */
export function spawnDaemon(o) {
  const config = join(o.dir, `config-${o.tag}.yaml`);
  writeFileSync(
    config,
    [
      `server: { host: 127.0.0.1, port: ${o.port}, shutdown_grace_seconds: 2 }`,
      `kubernetes: { kubeconfig: ${JSON.stringify(o.kubeconfig)}, namespace: ${o.namespace} }`,
      'resource: { cpu: 100000000, memory: 4096Ti, gpu: 0 }',
      'limits: { max_instances: 1000000 }',
      'usage: { interval_seconds: 5 }',
      `prometheus: { host: 127.0.0.1, port: ${o.metricsPort} }`,
      'log: { level: info }',
      '',
    ].join('\n'),
  );
  return spawnMeasured(`daemon (${o.tag})`, ['dist/src/main.js', '--config', config], {
    logFile: join(o.dir, `daemon-${o.tag}.log`),
    nodeFlags: [...DAEMON_NODE_FLAGS, ...(o.nodeFlags ?? [])],
  });
}
