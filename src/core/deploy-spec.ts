/**
 * Validation and normalisation of a deploy request. Everything a user can get
 * wrong is caught here, before any API call, and reported all at once.
 */
import { createHash } from 'node:crypto';
import { invalidArgument } from './errors.js';
import { parseImageReference } from './images.js';
import type { WorkloadKind } from './instances.js';
import type { Resources } from './resources.js';
import type { CleanupPolicy } from './cleanup.js';
import {
  networkDefaults,
  networkHashPart,
  networkInputOf,
  validateNetwork,
  type Expose,
  type NetworkDefaults,
  type WorkloadNetwork,
} from './workload-network.js';
import { DEFAULT_STORAGE_POLICY, normaliseVolumes, type StoragePolicy, type Volume, type VolumeInput } from './storage.js';
import { labelKeyProblem, labelValueProblem, quoted } from './label-syntax.js';
import { normaliseScheduling, schedulingHashPart, withGpuPlacement, type GpuPlacement, type Scheduling, type SchedulingInput } from './scheduling.js';

export { labelKeyProblem, labelValueProblem } from './label-syntax.js';

export { CLEANUP_POLICIES, type CleanupPolicy } from './cleanup.js';

export interface PortInput {
  readonly name: string;
  readonly containerPort: number;
  readonly protocol: string;
}

export interface TolerationInput {
  readonly key: string;
  readonly operator: string;
  readonly value: string;
  readonly effect: string;
  readonly tolerationSeconds?: number | undefined;
}

export interface WorkloadInput extends SchedulingInput {
  readonly kind?: WorkloadKind | undefined;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly ports?: readonly PortInput[];
  readonly timeoutSeconds?: number | undefined;
  readonly cleanupPolicy?: CleanupPolicy | undefined;
  readonly backoffLimit?: number | undefined;
  readonly labels?: Readonly<Record<string, string>>;
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly TolerationInput[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly expose?: Expose | undefined;
  readonly network?: { readonly isolate?: boolean | undefined; readonly peerLabel?: string | undefined } | undefined;
  /** Deployment only; undefined means 1. */
  readonly replicas?: number | undefined;
  readonly volumes?: readonly VolumeInput[];
}

/** A deploy request as decoded from the wire, not yet trusted. */
export interface DeployInput {
  readonly instanceId: string;
  readonly providerId: string;
  readonly image: string;
  readonly resources: Resources;
  readonly env: Readonly<Record<string, string>>;
  readonly workload?: WorkloadInput | undefined;
}

export interface Toleration {
  readonly key: string;
  readonly operator: 'Exists' | 'Equal';
  readonly value: string;
  readonly effect: '' | 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  readonly tolerationSeconds?: number;
}

export interface Port {
  readonly name: string;
  readonly containerPort: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
}

/** A port's name in the instance's Service: its own, or "<protocol>-<port>" when it has none. */
export function servicePortName(port: Port): string {
  return port.name || `${port.protocol.toLowerCase()}-${port.containerPort}`;
}

/** A validated deploy, with the daemon's defaults filled in. */
export interface DeploySpec {
  readonly instanceId: string;
  readonly providerId: string;
  readonly image: string;
  readonly resources: Resources;
  readonly env: Readonly<Record<string, string>>;
  readonly kind: WorkloadKind;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly ports: readonly Port[];
  /** Pod or Job activeDeadlineSeconds; Jobs always have one. */
  readonly timeoutSeconds: number | undefined;
  readonly cleanupPolicy: CleanupPolicy | undefined; // Jobs only
  readonly backoffLimit: number | undefined; // Jobs only
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly Toleration[];
  /** Service and isolation (core/workload-network.ts). */
  readonly network: WorkloadNetwork;
  /** Deployment only (undefined for the other kinds). */
  readonly replicas: number | undefined;
  readonly volumes: readonly Volume[];
  /** PriorityClass, affinity and topology spread (core/scheduling.ts). */
  readonly scheduling?: Scheduling | undefined;
  /** Identifies the request as sent, so a retry can be told from a conflicting reuse of the id. */
  readonly specHash: string;
}

export interface DeployDefaults {
  readonly jobTimeoutSeconds: number;
  readonly jobCleanupPolicy: CleanupPolicy;
  /** network.*; absent: isolated, no opt-out, no provider-wide peer label. */
  readonly network?: NetworkDefaults | undefined;
  /** storage.*: the default and allowed StorageClasses of claims. */
  readonly storage?: StoragePolicy | undefined;
  /** gpu.node_selector and gpu.tolerations, added to deploys that ask for a GPU. */
  readonly gpuPlacement?: GpuPlacement | undefined;
}

/** The most replicas one Deployment instance may ask for. */
export const MAX_REPLICAS = 1000;

/** Pods running the instance: a Deployment's replicas, else one. */
export function podCount(spec: Pick<DeploySpec, 'kind' | 'replicas'>): number {
  return spec.kind === 'Deployment' ? (spec.replicas ?? 1) : 1;
}

export function replicasProblem(replicas: number, field: string): string | undefined {
  if (Number.isInteger(replicas) && replicas >= 0 && replicas <= MAX_REPLICAS) return undefined;
  return `${field} must be between 0 and ${MAX_REPLICAS} (got ${replicas})`;
}

export const MAX_INSTANCE_ID_LENGTH = 253;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const RESERVED_LABEL_PREFIX = 'iarnet.';

function checkLabels(field: string, labels: Readonly<Record<string, string>>, problems: string[], reserved: boolean): void {
  for (const [k, v] of Object.entries(labels)) {
    const keyProblem = labelKeyProblem(k);
    if (keyProblem) problems.push(`${field} key ${keyProblem}`);
    const valueProblem = labelValueProblem(v);
    if (valueProblem) problems.push(`${field}[${quoted(k).slice(1, -1)}] value ${valueProblem}`);
    if (reserved && k.startsWith(RESERVED_LABEL_PREFIX)) problems.push(`${field} key ${quoted(k)} is reserved for the provider`);
  }
}

const isPositiveInt = (n: number): boolean => Number.isSafeInteger(n) && n > 0;

/** Canonical JSON (sorted keys) so equal requests hash equally whatever the map order on the wire. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function specHashOf(normalised: object): string {
  return createHash('sha256').update(canonical(normalised)).digest('hex').slice(0, 16);
}

/** Each check appends what is wrong to `problems`, so one answer lists every problem at once. */
type Problems = string[];

/** A request may carry megabytes of junk; an answer quotes at most this much of any one value, and lists at most this many problems. */
const PROBLEM_LIMIT = 20;

function summarise(problems: Problems): string {
  if (problems.length <= PROBLEM_LIMIT) return problems.join('; ');
  return `${problems.slice(0, PROBLEM_LIMIT).join('; ')}; and ${problems.length - PROBLEM_LIMIT} more problems`;
}

/** C0 controls and DEL: they make ids unreadable in logs and kubectl output. */
function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function checkInstanceId(instanceId: string, problems: Problems): void {
  if (!instanceId) problems.push('instance_id is required');
  else if (instanceId.length > MAX_INSTANCE_ID_LENGTH) problems.push(`instance_id is longer than ${MAX_INSTANCE_ID_LENGTH} characters`);
  else if (hasControlCharacter(instanceId)) problems.push('instance_id contains control characters');
}

function checkImage(image: string, problems: Problems): void {
  if (!image.trim()) problems.push('image is required');
  else if (/\s/.test(image)) problems.push(`image ${quoted(image)} contains white space`);
  else {
    const parsed = parseImageReference(image);
    if (typeof parsed === 'string') problems.push(`image ${quoted(image)} ${parsed}`);
  }
}

function checkResources(resources: DeployInput['resources'], problems: Problems): void {
  if (!isPositiveInt(resources.cpu)) problems.push(`resource_request.cpu must be a positive number of millicores (got ${resources.cpu})`);
  if (!isPositiveInt(resources.memory)) problems.push(`resource_request.memory must be a positive number of bytes (got ${resources.memory})`);
  if (!(Number.isSafeInteger(resources.gpu) && resources.gpu >= 0)) problems.push(`resource_request.gpu must be zero or more (got ${resources.gpu})`);
}

function checkEnvNames(env: DeployInput['env'], problems: Problems): void {
  for (const name of Object.keys(env)) {
    if (!ENV_NAME.test(name)) problems.push(`env_vars name ${quoted(name)} is invalid (letters, digits, '_', '-', '.'; not starting with a digit)`);
  }
}

/** Ports with the protocol defaulted to TCP and upper-cased. */
function normalisePorts(input: NonNullable<WorkloadInput['ports']>, problems: Problems): Port[] {
  const ports: Port[] = [];
  const seenPorts = new Set<string>();
  for (const p of input) {
    const protocol = (p.protocol || 'TCP').toUpperCase();
    if (!(Number.isInteger(p.containerPort) && p.containerPort >= 1 && p.containerPort <= 65535)) {
      problems.push(`workload.ports: container_port ${p.containerPort} is not in 1-65535`);
    }
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP')
      problems.push(`workload.ports: protocol ${quoted(p.protocol)} is not TCP, UDP or SCTP`);
    if (p.name && (p.name.length > 15 || !PORT_NAME.test(p.name) || !/[a-z]/.test(p.name))) {
      problems.push(`workload.ports: name ${quoted(p.name)} must be at most 15 lowercase alphanumerics or '-', with a letter`);
    }
    const key = `${p.containerPort}/${protocol}`;
    if (seenPorts.has(key)) problems.push(`workload.ports: ${key} is listed twice`);
    seenPorts.add(key);
    ports.push({ name: p.name, containerPort: p.containerPort, protocol: protocol as Port['protocol'] });
  }
  // Names are checked here, not by the API server: the pod accepts them, and only the Service (made after it) would be refused.
  const named = new Map<string, { readonly index: number; readonly explicit: boolean }>();
  ports.forEach((p, i) => {
    const name = servicePortName(p);
    const seen = named.get(name);
    const first = seen?.index;
    if (!seen) named.set(name, { index: i, explicit: p.name !== '' });
    else if (p.name && !seen.explicit) {
      problems.push(`workload.ports[${i}].name ${quoted(name)} is the name workload.ports[${first}] gets without one: name it, or choose another name`);
    } else if (p.name) problems.push(`workload.ports[${i}].name ${quoted(name)} is also the name of workload.ports[${first}]`);
    else problems.push(`workload.ports[${first}].name ${quoted(name)} is the name workload.ports[${i}] gets without one: name it, or choose another name`);
  });
  return ports;
}

function checkAnnotations(annotations: Readonly<Record<string, string>>, problems: Problems): void {
  for (const k of Object.keys(annotations)) {
    const keyProblem = labelKeyProblem(k);
    if (keyProblem) problems.push(`workload.annotations key ${keyProblem}`);
    if (k.startsWith(RESERVED_LABEL_PREFIX)) problems.push(`workload.annotations key ${quoted(k)} is reserved for the provider`);
  }
  // The API server's own limit on all annotations of an object.
  if (Object.entries(annotations).reduce((n, [k, v]) => n + k.length + v.length, 0) > 256 * 1024) {
    problems.push('workload.annotations exceed 256 KiB in total');
  }
}

/** Tolerations with the operator defaulted to Equal. */
function normaliseTolerations(input: NonNullable<WorkloadInput['tolerations']>, problems: Problems): Toleration[] {
  return input.map((t) => {
    const operator = t.operator || 'Equal';
    checkToleration(t, operator, problems);
    return {
      key: t.key,
      operator: operator as Toleration['operator'],
      value: t.value,
      effect: t.effect as Toleration['effect'],
      ...(t.tolerationSeconds !== undefined ? { tolerationSeconds: t.tolerationSeconds } : {}),
    };
  });
}

function checkToleration(t: NonNullable<WorkloadInput['tolerations']>[number], operator: string, problems: Problems): void {
  if (operator !== 'Equal' && operator !== 'Exists') problems.push(`workload.tolerations: operator ${quoted(t.operator)} is not Exists or Equal`);
  if (operator === 'Exists' && t.value) problems.push('workload.tolerations: value must be empty when operator is Exists');
  if (!t.key && operator !== 'Exists') problems.push('workload.tolerations: an empty key needs operator Exists');
  if (t.key && labelKeyProblem(t.key)) problems.push(`workload.tolerations key ${labelKeyProblem(t.key)}`);
  const effect = t.effect;
  if (!['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(effect)) {
    problems.push(`workload.tolerations: effect ${quoted(effect)} is not NoSchedule, PreferNoSchedule or NoExecute`);
  }
  if (t.tolerationSeconds !== undefined && effect !== 'NoExecute') problems.push('workload.tolerations: toleration_seconds needs effect NoExecute');
}

/** The timeout applies to Pods and Jobs; cleanup policy and backoff limit to Jobs only; replicas to Deployments only. */
function checkLifecycle(kind: WorkloadKind, w: WorkloadInput, problems: Problems): void {
  if (w.timeoutSeconds !== undefined && !isPositiveInt(w.timeoutSeconds)) {
    problems.push(`workload.timeout_seconds must be a positive number of seconds (got ${w.timeoutSeconds})`);
  }
  if (kind !== 'Deployment' && w.replicas !== undefined) problems.push('workload.replicas applies to DEPLOYMENT workloads only');
  if (kind === 'Deployment') {
    checkDeploymentLifecycle(w, problems);
  } else if (kind === 'Pod') {
    if (w.cleanupPolicy !== undefined) problems.push('workload.cleanup_policy applies to JOB workloads only');
    if (w.backoffLimit !== undefined) problems.push('workload.backoff_limit applies to JOB workloads only');
  } else if (w.backoffLimit !== undefined && !(Number.isInteger(w.backoffLimit) && w.backoffLimit >= 0)) {
    problems.push(`workload.backoff_limit must be zero or more (got ${w.backoffLimit})`);
  }
}

function checkDeploymentLifecycle(w: WorkloadInput, problems: Problems): void {
  // A kept-alive component has no deadline: Kubernetes refuses activeDeadlineSeconds in a Deployment's pods.
  if (w.timeoutSeconds !== undefined) problems.push('workload.timeout_seconds applies to POD and JOB workloads only');
  if (w.cleanupPolicy !== undefined) problems.push('workload.cleanup_policy applies to JOB workloads only');
  if (w.backoffLimit !== undefined) problems.push('workload.backoff_limit applies to JOB workloads only');
  const problem = w.replicas === undefined ? undefined : replicasProblem(w.replicas, 'workload.replicas');
  if (problem) problems.push(problem);
}

/** Replicas (Deployments only, default 1) and the volumes, checked against storage.*. */
function normaliseKeptAlive(kind: WorkloadKind, w: WorkloadInput, defaults: DeployDefaults, problems: Problems): Pick<DeploySpec, 'replicas' | 'volumes'> {
  const replicas = kind === 'Deployment' ? (w.replicas ?? 1) : undefined;
  const volumes = normaliseVolumes(w.volumes ?? [], defaults.storage ?? DEFAULT_STORAGE_POLICY, replicas ?? 1, problems);
  return { replicas, volumes };
}

export function validateDeploy(input: DeployInput, defaults: DeployDefaults): DeploySpec {
  const problems: Problems = [];
  const { instanceId, image, resources } = input;
  const w = input.workload ?? {};
  const kind: WorkloadKind = w.kind ?? 'Pod';

  checkInstanceId(instanceId, problems);
  checkImage(image, problems);
  checkResources(resources, problems);
  checkEnvNames(input.env, problems);
  const ports = normalisePorts(w.ports ?? [], problems);
  const labels = w.labels ?? {};
  const nodeSelector = w.nodeSelector ?? {};
  checkLabels('workload.labels', labels, problems, true);
  checkLabels('workload.node_selector', nodeSelector, problems, false);
  const annotations = w.annotations ?? {};
  checkAnnotations(annotations, problems);
  const tolerations = normaliseTolerations(w.tolerations ?? [], problems);
  checkLifecycle(kind, w, problems);
  const network = validateNetwork(networkInputOf(w), ports, labels, networkDefaults(defaults), problems, labelKeyProblem);
  const { replicas, volumes } = normaliseKeptAlive(kind, w, defaults, problems);
  const scheduling = normaliseScheduling(w, labels, problems);
  const placed = withGpuPlacement(resources.gpu, nodeSelector, tolerations, defaults.gpuPlacement, problems);

  if (problems.length > 0) throw invalidArgument(summarise(problems));

  const isJob = kind === 'Job';
  return {
    instanceId,
    providerId: input.providerId,
    image,
    resources,
    env: input.env,
    kind,
    command: w.command ?? [],
    args: w.args ?? [],
    ports,
    timeoutSeconds: w.timeoutSeconds ?? (isJob ? defaults.jobTimeoutSeconds : undefined),
    cleanupPolicy: isJob ? (w.cleanupPolicy ?? defaults.jobCleanupPolicy) : undefined,
    backoffLimit: isJob ? (w.backoffLimit ?? 0) : undefined,
    labels,
    annotations,
    nodeSelector: placed.nodeSelector,
    tolerations: placed.tolerations,
    replicas,
    volumes,
    scheduling,
    network,
    // Hashed before the daemon's defaults are applied, so a retry after a
    // restart with changed defaults is still recognised as the same request.
    specHash: specHashOf({
      instanceId,
      providerId: input.providerId,
      image,
      resources,
      env: input.env,
      kind,
      command: w.command ?? [],
      args: w.args ?? [],
      ports,
      timeoutSeconds: w.timeoutSeconds,
      cleanupPolicy: w.cleanupPolicy,
      backoffLimit: w.backoffLimit,
      labels,
      annotations,
      nodeSelector,
      tolerations,
      ...networkHashPart(w),
      // Absent unless asked for, so the hashes of earlier deploys stay what they were.
      replicas: w.replicas,
      volumes: w.volumes && w.volumes.length > 0 ? w.volumes : undefined,
      ...schedulingHashPart(scheduling),
    }),
  };
}
