/**
 * Command-line parsing for k8s-provider-cli. Pure: argv in, a typed command
 * or a UsageError out, so every spelling is unit-tested without a daemon.
 */
import { parseArgs } from 'node:util';
import { parseMemory, toMilli, toSafeNumber } from '../core/quantity.js';
import type { DeployRequest } from '../adapters/grpc/contract.js';
import type { Workload } from '../adapters/grpc/contract.js';
import type { Toleration } from '../adapters/grpc/contract.js';
import type { ContainerPort } from '../adapters/grpc/contract.js';
import type { GetLogsRequest, ScaleInstanceRequest, SendHttpRequestRequest, UndeployRequest, Volume } from '../adapters/grpc/contract.js';
import { NETWORK_FLAGS, networkFlags } from './network-text.js';
import { REQUEST_FLAGS, REQUEST_HELP, REQUEST_SHARED_FLAGS, requestFromFlags } from './request.js';
import { SchedulingFlagError, schedulingFlags } from './scheduling-flags.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const DEFAULT_ADDR = 'localhost:50052';
export const DEFAULT_DEADLINE_SECONDS = 10;

export interface TlsFlags {
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly serverName: string | undefined;
}

export interface CommonFlags {
  readonly addr: string;
  readonly providerId: string;
  readonly tls: TlsFlags | undefined;
  readonly json: boolean;
  readonly deadlineSeconds: number;
  /** A file holding the daemon's bearer token (server.auth); the first token in it is sent. */
  readonly tokenFile?: string | undefined;
}

export type RpcCommandName = 'connect' | 'disconnect' | 'capacity' | 'available' | 'usage' | 'health';

export type Command =
  | { readonly name: 'help'; readonly topic: string | undefined }
  | { readonly name: 'version' }
  | { readonly name: RpcCommandName; readonly common: CommonFlags }
  | { readonly name: 'deploy'; readonly common: CommonFlags; readonly request: DeployRequest }
  | { readonly name: 'probe'; readonly common: CommonFlags; readonly service: string }
  | { readonly name: 'instances'; readonly common: CommonFlags; readonly phases: readonly string[]; readonly kind: string }
  | { readonly name: 'describe'; readonly common: CommonFlags; readonly instanceId: string }
  | { readonly name: 'watch'; readonly common: CommonFlags }
  | { readonly name: 'logs'; readonly common: CommonFlags; readonly request: GetLogsRequest }
  | { readonly name: 'undeploy'; readonly common: CommonFlags; readonly request: UndeployRequest }
  | { readonly name: 'request'; readonly common: CommonFlags; readonly request: SendHttpRequestRequest; readonly include: boolean }
  | { readonly name: 'scale'; readonly common: CommonFlags; readonly request: ScaleInstanceRequest }
  | {
      readonly name: 'pods';
      readonly json: boolean;
      readonly kubeconfig: string | undefined;
      readonly namespace: string | undefined;
      readonly allNamespaces: boolean;
    };

const COMMON = {
  addr: { type: 'string' },
  'provider-id': { type: 'string', short: 'p' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-server-name': { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean' },
  deadline: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DEPLOY = {
  'instance-id': { type: 'string', short: 'i' },
  image: { type: 'string' },
  cpu: { type: 'string' },
  memory: { type: 'string' },
  gpu: { type: 'string' },
  env: { type: 'string', short: 'e', multiple: true },
  kind: { type: 'string' },
  command: { type: 'string', multiple: true },
  arg: { type: 'string', multiple: true },
  port: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  cleanup: { type: 'string' },
  'backoff-limit': { type: 'string' },
  label: { type: 'string', short: 'l', multiple: true },
  annotation: { type: 'string', multiple: true },
  'node-selector': { type: 'string', multiple: true },
  toleration: { type: 'string', multiple: true },
  ...NETWORK_FLAGS,
  replicas: { type: 'string' },
  'empty-dir': { type: 'string', multiple: true },
  claim: { type: 'string', multiple: true },
  'priority-class': { type: 'string' },
  apart: { type: 'string', multiple: true },
  together: { type: 'string', multiple: true },
  spread: { type: 'string', multiple: true },
} as const;

const PODS = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
} as const;

const PROBE = { service: { type: 'string' } } as const;

const INSTANCES = { phase: { type: 'string', multiple: true } } as const;
const LOGS = {
  follow: { type: 'boolean', short: 'f' },
  tail: { type: 'string' },
  since: { type: 'string' },
  container: { type: 'string', short: 'c' },
  timestamps: { type: 'boolean' },
} as const;
const UNDEPLOY = { grace: { type: 'string' }, foreground: { type: 'boolean' } } as const;
const SCALE = { replicas: { type: 'string' } } as const;

const ALL = {
  ...COMMON,
  ...DEPLOY,
  ...PODS,
  ...PROBE,
  ...INSTANCES,
  ...LOGS,
  ...UNDEPLOY,
  ...REQUEST_FLAGS,
  ...SCALE,
  version: { type: 'boolean', short: 'V' },
} as const;

const OWN: Record<string, readonly string[]> = {
  deploy: Object.keys(DEPLOY),
  pods: Object.keys(PODS),
  probe: Object.keys(PROBE),
  // --kind filters here as it chooses the workload in deploy.
  instances: [...Object.keys(INSTANCES), 'kind'],
  logs: Object.keys(LOGS),
  undeploy: Object.keys(UNDEPLOY),
  request: [...Object.keys(REQUEST_FLAGS), ...REQUEST_SHARED_FLAGS],
  scale: Object.keys(SCALE),
};

const RPC_COMMANDS: readonly RpcCommandName[] = ['connect', 'disconnect', 'capacity', 'available', 'usage', 'health'];
const INSTANCE_COMMANDS = ['instances', 'describe', 'watch', 'logs', 'undeploy', 'request', 'scale'];
const COMMANDS = [...RPC_COMMANDS, 'deploy', ...INSTANCE_COMMANDS, 'probe', 'pods', 'help', 'version'];
/** Commands whose RPC needs a session, so an empty provider id can only fail. */
const NEEDS_ID = new Set(['connect', 'disconnect', 'usage', 'health', 'deploy', ...INSTANCE_COMMANDS]);
/** Commands that name one instance: `describe ID`. */
const TAKES_ID = new Set(['describe', 'logs', 'undeploy', 'request', 'scale']);
const PHASES = ['pending', 'running', 'succeeded', 'failed', 'terminating', 'unknown'];

export function parseCommandLine(argv: readonly string[]): Command {
  // After "--" come the container's args verbatim, dashes and all (parseArgs refuses "--arg -c").
  const dashes = argv.indexOf('--');
  const head = dashes >= 0 ? argv.slice(0, dashes) : argv;
  const tail = dashes >= 0 ? argv.slice(dashes + 1) : [];
  let parsed: ReturnType<typeof parseArgs<{ options: typeof ALL; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...head], options: ALL, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if ((values.version && name === undefined) || (name === 'version' && rest.length === 0)) return { name: 'version' };
  if (values.help || name === undefined || name === 'help') return { name: 'help', topic: name === 'help' ? rest[0] : name };
  const instanceId = checkShape(name, rest, tail);
  checkOwnFlags(name, values);
  return commandFor(name, values, tail, instanceId);
}

/** The command once its name, positionals and flags have been checked. */
function commandFor(name: string, values: Values, tail: readonly string[], instanceId: string): Command {
  if (name === 'pods') {
    return { name, json: values.json ?? false, kubeconfig: values.kubeconfig, namespace: values.namespace, allNamespaces: values['all-namespaces'] ?? false };
  }

  const common = commonFlags(values);
  if (NEEDS_ID.has(name) && !common.providerId) throw new UsageError(`${name}: --provider-id is required`);
  if (name === 'deploy') return { name, common, request: deployRequest({ ...values, arg: [...(values.arg ?? []), ...tail] }, common.providerId) };
  if (name === 'probe') return { name, common, service: values.service ?? '' };
  if (INSTANCE_COMMANDS.includes(name)) return instanceCommand(name, common, instanceId, values);
  return { name: name as RpcCommandName, common };
}

/** The instance commands: instances, describe, watch, logs, undeploy. */
function instanceCommand(name: string, common: CommonFlags, instanceId: string, values: Values): Command {
  switch (name) {
    case 'instances':
      return { name, common, phases: (values.phase ?? []).map(phaseFlag), kind: kindFilter(values.kind) };
    case 'describe':
      return { name, common, instanceId };
    case 'logs': {
      const request: GetLogsRequest = { providerId: common.providerId, instanceId, follow: values.follow ?? false, timestamps: values.timestamps ?? false };
      if (values.container !== undefined) request.container = values.container;
      if (values.tail !== undefined) request.tailLines = String(wholeNumber('--tail', values.tail));
      if (values.since !== undefined) request.sinceSeconds = String(wholeNumber('--since', values.since, 1));
      return { name, common, request };
    }
    case 'undeploy': {
      const propagation = values.foreground ? 'PROPAGATION_FOREGROUND' : 'PROPAGATION_BACKGROUND';
      const request: UndeployRequest = { providerId: common.providerId, instanceId, propagation };
      if (values.grace !== undefined) request.graceSeconds = String(wholeNumber('--grace', values.grace));
      return { name, common, request };
    }
    case 'scale': {
      if (values.replicas === undefined) throw new UsageError('scale: --replicas is required');
      return { name, common, request: { providerId: common.providerId, instanceId, replicas: wholeNumber('--replicas', values.replicas) } };
    }
    case 'watch':
      return { name, common };
    case 'request':
      try {
        return { name, common, request: requestFromFlags(common.providerId, instanceId, values), include: values.include ?? false };
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    default:
      throw new UsageError(`unknown instance command "${name}"`);
  }
}

function phaseFlag(raw: string): string {
  const phase = raw.toLowerCase();
  if (!PHASES.includes(phase)) throw new UsageError(`--phase must be one of ${PHASES.join(', ')}, not "${raw}"`);
  return `INSTANCE_PHASE_${phase.toUpperCase()}`;
}

function kindFilter(raw: string | undefined): string {
  if (raw === undefined) return 'WORKLOAD_KIND_UNSPECIFIED';
  const kind = raw.toLowerCase();
  if (kind !== 'pod' && kind !== 'job' && kind !== 'deployment') throw new UsageError(`--kind must be pod, job or deployment, not "${raw}"`);
  return `WORKLOAD_KIND_${kind.toUpperCase()}`;
}

type Values = ReturnType<typeof parseArgs<{ options: typeof ALL; allowPositionals: true; strict: true }>>['values'];

/** A known command, no stray positionals, and nothing after "--" except for deploy. */
/** Checks the command and its positional arguments; returns the instance id of the commands that take one ('' for the others). */
function checkShape(name: string, rest: readonly string[], tail: readonly string[]): string {
  if (!COMMANDS.includes(name)) throw new UsageError(`unknown command "${name}" (commands: ${COMMANDS.join(', ')})`);
  const [instanceId, ...extra] = rest;
  if (TAKES_ID.has(name)) {
    if (instanceId === undefined) throw new UsageError(`${name}: the instance id is required (${name} ID)`);
    if (extra.length > 0) throw new UsageError(`${name}: unexpected argument "${extra[0]}" (one instance id only)`);
  } else if (rest.length > 0) throw new UsageError(`${name}: unexpected argument "${rest[0]}" (values go after --flags)`);
  if (tail.length > 0 && name !== 'deploy') throw new UsageError(`${name}: takes nothing after "--"`);
  return instanceId ?? '';
}

/** A flag that belongs to another command is named with its owner. */
function checkOwnFlags(name: string, values: Values): void {
  for (const [cmd, flags] of Object.entries(OWN)) {
    if (cmd === name) continue;
    const stray = flags.find((f) => (values as Record<string, unknown>)[f] !== undefined && !(OWN[name] ?? []).includes(f));
    if (stray) throw new UsageError(`--${stray} is not an option of ${name} (it belongs to ${cmd})`);
  }
}

function commonFlags(values: Values): CommonFlags {
  const tlsGiven = [values['tls-ca'], values['tls-cert'], values['tls-key'], values['tls-server-name']].some((v) => v !== undefined);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together (the client certificate and its key)');
  }
  return {
    addr: values.addr ?? DEFAULT_ADDR,
    providerId: values['provider-id'] ?? '',
    tls: tlsGiven ? { ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'], serverName: values['tls-server-name'] } : undefined,
    json: values.json ?? false,
    deadlineSeconds: values.deadline === undefined ? DEFAULT_DEADLINE_SECONDS : positiveNumber('--deadline', values.deadline),
    ...(values['token-file'] !== undefined ? { tokenFile: values['token-file'] } : {}),
  };
}

function scheduling(values: Values): Partial<Workload> {
  try {
    return schedulingFlags(values);
  } catch (err) {
    if (err instanceof SchedulingFlagError) throw new UsageError(err.message);
    throw err;
  }
}

function deployRequest(values: Values, providerId: string): DeployRequest {
  const instanceId = values['instance-id'];
  const image = values.image;
  if (!instanceId) throw new UsageError('deploy: --instance-id is required');
  if (!image) throw new UsageError('deploy: --image is required');
  const request: DeployRequest = {
    instanceId,
    image,
    providerId,
    resourceRequest: {
      cpu: values.cpu === undefined ? '0' : String(parseCpuFlag(values.cpu)),
      memory: values.memory === undefined ? '0' : String(parseMemoryFlag(values.memory)),
      gpu: values.gpu === undefined ? '0' : String(wholeNumber('--gpu', values.gpu)),
    },
    envVars: pairs('--env', values.env),
  };
  const workload = workloadFlags(values);
  return workload ? { ...request, workload } : request;
}

/** Only sent when asked for, so a plain deploy is byte-for-byte the original contract's request. */
function workloadFlags(values: Values): Workload | undefined {
  const w: Workload = {};
  if (values.kind !== undefined) {
    const kind = values.kind.toLowerCase();
    if (kind !== 'pod' && kind !== 'job' && kind !== 'deployment') throw new UsageError(`--kind must be pod, job or deployment, not "${values.kind}"`);
    w.kind = kind.toUpperCase() as Workload['kind'];
  }
  if (values.replicas !== undefined) w.replicas = wholeNumber('--replicas', values.replicas);
  const volumes = [...(values['empty-dir'] ?? []).map(parseEmptyDir), ...(values.claim ?? []).map(parseClaim)];
  if (volumes.length > 0) w.volumes = volumes;
  if (values.command) w.command = values.command;
  if (values.arg?.length) w.args = values.arg;
  if (values.port) w.ports = values.port.map(parsePort);
  if (values.timeout !== undefined) w.timeoutSeconds = String(wholeNumber('--timeout', values.timeout, 1));
  if (values.cleanup !== undefined) w.cleanupPolicy = parseCleanup(values.cleanup);
  if (values['backoff-limit'] !== undefined) w.backoffLimit = wholeNumber('--backoff-limit', values['backoff-limit']);
  if (values.label) w.labels = pairs('--label', values.label);
  if (values.annotation) w.annotations = pairs('--annotation', values.annotation);
  if (values['node-selector']) w.nodeSelector = pairs('--node-selector', values['node-selector']);
  if (values.toleration) w.tolerations = values.toleration.map(parseToleration);
  try {
    Object.assign(w, networkFlags(values));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  Object.assign(w, scheduling(values));
  return Object.keys(w).length > 0 ? w : undefined;
}

/** --empty-dir NAME:PATH:SIZE */
function parseEmptyDir(raw: string): Volume {
  const [name, path, size, ...extra] = raw.split(':');
  if (!name || !path || !size || extra.length > 0) throw new UsageError(`--empty-dir "${raw}": expected NAME:PATH:SIZE, e.g. scratch:/tmp/work:1Gi`);
  return { name, mountPath: path, emptyDir: { sizeLimitBytes: String(parseMemoryFlag(size)) } };
}

/** --claim NAME:PATH:SIZE[:CLASS[:MODE]][,retain][,ro] */
function parseClaim(raw: string): Volume {
  const [spec = '', ...options] = raw.split(',');
  const [name, path, size, storageClass = '', accessMode = '', ...extra] = spec.split(':');
  const unknown = options.find((o) => o !== 'retain' && o !== 'ro');
  if (!name || !path || !size || extra.length > 0 || unknown !== undefined) {
    throw new UsageError(`--claim "${raw}": expected NAME:PATH:SIZE[:CLASS[:MODE]][,retain][,ro], e.g. data:/var/lib/data:10Gi:fast,retain`);
  }
  return {
    name,
    mountPath: path,
    readOnly: options.includes('ro'),
    claim: { sizeBytes: String(parseMemoryFlag(size)), storageClass, accessMode, retain: options.includes('retain') },
  };
}

/**
 * A Kubernetes quantity, as kubectl takes it: "2" is two cores, "0.5" and
 * "500m" are half a core. (A bare number as millicores, as on the wire,
 * turned a slip such as "--cpu 16" into a silent 16m deploy.)
 */
export function parseCpuFlag(raw: string): number {
  const s = raw.trim();
  try {
    const milli = toSafeNumber(toMilli(s), '--cpu');
    if (milli < 0) throw new Error('must not be negative');
    return milli;
  } catch (err) {
    throw new UsageError(`--cpu "${raw}": ${(err as Error).message} (cores such as 2 or 0.5, or millicores such as 500m)`);
  }
}

/** Bytes or any memory quantity the config accepts (512Mi, 1G, 1GiB). */
export function parseMemoryFlag(raw: string): number {
  try {
    const bytes = toSafeNumber(parseMemory(/^\d+$/.test(raw.trim()) ? Number(raw) : raw), '--memory');
    if (bytes < 0) throw new Error('must not be negative');
    return bytes;
  } catch (err) {
    throw new UsageError(`--memory "${raw}": ${(err as Error).message} (bytes, or a quantity such as 512Mi or 2Gi)`);
  }
}

/** "[NAME:]PORT[/PROTOCOL]", e.g. 8080, http:8080, dns:53/UDP. */
export function parsePort(raw: string): ContainerPort {
  const m = /^(?:([a-z0-9][-a-z0-9]*):)?(\d+)(?:\/(TCP|UDP|SCTP))?$/i.exec(raw.trim());
  if (!m) throw new UsageError(`--port "${raw}": expected [NAME:]PORT[/TCP|UDP|SCTP], e.g. http:8080 or 53/UDP`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new UsageError(`--port "${raw}": ${port} is not a port number (1-65535)`);
  return { name: m[1] ?? '', containerPort: port, protocol: (m[3] ?? 'TCP').toUpperCase() };
}

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/**
 * kubectl's taint spelling: KEY[=VALUE][:EFFECT[:SECONDS]]. With a value the
 * operator is Equal, without one Exists; "*" alone tolerates every taint.
 */
export function parseToleration(raw: string): Toleration {
  if (raw === '*') return { key: '', operator: 'Exists', value: '', effect: '' };
  const [keyValue = '', effect = '', seconds, extra] = raw.split(':');
  if (extra !== undefined) throw new UsageError(`--toleration "${raw}": expected KEY[=VALUE][:EFFECT[:SECONDS]]`);
  const eq = keyValue.indexOf('=');
  const key = eq >= 0 ? keyValue.slice(0, eq) : keyValue;
  if (!key) throw new UsageError(`--toleration "${raw}": the key is missing (use "*" to tolerate everything)`);
  if (effect && !EFFECTS.includes(effect)) throw new UsageError(`--toleration "${raw}": effect must be one of ${EFFECTS.join(', ')}`);
  const t: Toleration = eq >= 0 ? { key, operator: 'Equal', value: keyValue.slice(eq + 1), effect } : { key, operator: 'Exists', value: '', effect };
  if (seconds !== undefined) {
    if (effect !== 'NoExecute') throw new UsageError(`--toleration "${raw}": seconds only apply to the NoExecute effect`);
    t.tolerationSeconds = String(wholeNumber('--toleration seconds', seconds));
  }
  return t;
}

const CLEANUP: Record<string, 'ALWAYS' | 'ON_SUCCESS' | 'ON_FAILURE'> = {
  always: 'ALWAYS',
  'on-success': 'ON_SUCCESS',
  onsuccess: 'ON_SUCCESS',
  'on-failure': 'ON_FAILURE',
  onfailure: 'ON_FAILURE',
};

function parseCleanup(raw: string): 'ALWAYS' | 'ON_SUCCESS' | 'ON_FAILURE' {
  const policy = CLEANUP[raw.toLowerCase().replace(/_/g, '-')];
  if (!policy) throw new UsageError(`--cleanup must be always, on-success or on-failure, not "${raw}"`);
  return policy;
}

function pairs(flag: string, items: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} "${item}": expected KEY=VALUE`);
    const key = item.slice(0, eq);
    if (key in out) throw new UsageError(`${flag}: "${key}" is given twice`);
    out[key] = item.slice(eq + 1);
  }
  return out;
}

function wholeNumber(flag: string, raw: string, min = 0): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min)
    throw new UsageError(`${flag} must be a whole number${min > 0 ? ` of at least ${min}` : ''}, not "${raw}"`);
  return n;
}

function positiveNumber(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number of seconds, not "${raw}"`);
  return n;
}

export const USAGE = `k8s-provider-cli: talk to a k8s-provider daemon as the iarnet control plane would.

Usage: k8s-provider-cli <command> [flags]

Commands (one per RPC):
  connect      open the session for --provider-id
  disconnect   close the session
  capacity     total / used / available (no session needed before connect)
  available    what is left for new deploys
  deploy       start an instance (Pod, Job or Deployment)
Instances (k8sprovider.v1.Instances; all need --provider-id):
  instances    list the instances: id, kind, phase, reason, node, age, cpu/memory (--phase P, --kind K)
  describe ID  everything about one instance
  watch        live changes, one line each, until interrupted
  logs ID      the container's log (-f to follow, --tail N, --since SECONDS, -c CONTAINER, --timestamps)
  undeploy ID  delete the instance's Pod, or its Job or Deployment and pods (--grace SECONDS, --foreground)
  request ID   one HTTP request to the running instance through the API server (-X, --path, -H, -d, --port)
  scale ID     set a Deployment instance's replicas, under admission (--replicas N)
  usage        live usage of the managed workloads (needs the session)
  health       the control plane's HealthCheck: capacity and tags; keeps the session alive
Operator commands:
  probe        grpc.health.v1 status of the daemon (--service NAME, default the whole server)
  pods         managed workloads straight from the cluster (kubeconfig, not the daemon)
  version      this CLI's version and the git commit of its build (also --version, -V)

Common flags:
  --addr HOST:PORT        daemon address (default ${DEFAULT_ADDR})
  -p, --provider-id ID    the session's provider id (required by connect, disconnect, deploy, usage, health)
  --tls-ca FILE           verify the daemon with this CA (turns TLS on)
  --tls-cert FILE --tls-key FILE   client certificate for mutual TLS
  --tls-server-name NAME  expected name in the daemon's certificate (when --addr is an IP or alias)
  --token-file FILE       send "authorization: Bearer <token>" with the first token in FILE (server.auth)
  --deadline SECONDS      per-call deadline (default ${DEFAULT_DEADLINE_SECONDS})
  --json                  machine-readable output on stdout
  -h, --help              this text

deploy flags:
  -i, --instance-id ID    required
  --image IMAGE           required
  --cpu Q                 cores as kubectl takes them: 2, 0.5, or millicores 500m
  --memory Q              bytes or a quantity (512Mi, 2Gi)
  --gpu N                 whole devices
  -e, --env KEY=VALUE     repeatable
  --kind pod|job|deployment   default pod
  --replicas N            deployments: pods kept running (default 1)
  --empty-dir NAME:PATH:SIZE   repeatable; scratch space limited to SIZE (1Gi)
  --claim NAME:PATH:SIZE[:CLASS[:MODE]][,retain][,ro]   repeatable; a PersistentVolumeClaim
                          made for the instance (MODE: ReadWriteOnce, ReadWriteMany, ...)
  --command ARG           container command, repeat for each word
  --arg ARG               container args, repeat for each word
  -- ARG...               everything after "--" is appended to the args as is
                          (a value that starts with "-" needs --command=-c or goes after --)
  --port [NAME:]PORT[/PROTO]   repeatable, e.g. http:8080, 53/UDP
  --timeout SECONDS       activeDeadlineSeconds (jobs default to jobs.timeout_seconds)
  --cleanup always|on-success|on-failure   jobs: when the finished Job is removed
  --backoff-limit N       jobs: retries before failing (default 0)
  -l, --label KEY=VALUE   repeatable; iarnet.* keys are reserved
  --annotation KEY=VALUE  repeatable
  --node-selector KEY=VALUE   repeatable
  --toleration KEY[=VALUE][:EFFECT[:SECONDS]]   repeatable; "*" tolerates everything
  --expose cluster-ip|node-port|none   how declared ports are reached (default cluster-ip)
  --isolate, --no-isolate  override network.isolate for this instance
  --peer-label KEY        a --label key: instances with the same value may reach this one
  --priority-class NAME   an existing PriorityClass (system-* are refused)
  --apart LABEL[,topology=KEY][,preferred][,weight=N]   repeatable; not on the same node
                          (or KEY domain) as another instance with the same value of LABEL
  --together LABEL[,topology=KEY][,preferred][,weight=N]   repeatable; on the same one
  --spread KEY[,skew=N][,anyway][,group=LABEL][,min-domains=N]   repeatable; spread
                          instances (of LABEL's group, or all) evenly over the KEY domains

instances flags:
  --phase P               pending, running, succeeded, failed, terminating or unknown; repeatable
  --kind pod|job|deployment

logs flags:
  -f, --follow            keep printing new lines until the container ends or Ctrl-C
  --tail N                only the last N lines
  --since SECONDS         only lines newer than this
  -c, --container NAME    default "main"
  --timestamps            prefix each line with its timestamp

${REQUEST_HELP}
undeploy flags:
  --grace SECONDS         pod termination grace period (default: the pod's own, 30 s)
  --foreground            a Job stays until its pods are gone (default: background)

pods flags:
  --kubeconfig FILE       default: $KUBECONFIG, then ~/.kube/config, then in-cluster
  -n, --namespace NS      default: the context's namespace, else "default"
  -A, --all-namespaces

Exit codes: 0 success; 1 the call failed or the daemon refused (Connect success=false,
Deploy error, gRPC error, NOT_SERVING); 2 usage error.
`;
