/**
 * The config file: seed 004's YAML accepted unchanged, plus our own keys.
 * Validated once at start-up; defaults are filled in here and nowhere else.
 */
import { z } from 'zod';
import { CLEANUP_POLICIES } from '../core/deploy-spec.js';
import { parseMemory, toMilli, toSafeNumber } from '../core/quantity.js';
import { DomainError } from '../core/errors.js';
import { RESOURCE_TAGS } from '../core/provider.js';
import { networkSchema, requestLimitsSchema } from './network-schema.js';

/** Runs a core parser inside zod so its message lands on the right path. */
function quantity(
  parse: (raw: string | number) => bigint,
  what: string,
): z.ZodPipe<z.ZodUnion<readonly [z.ZodNumber, z.ZodString]>, z.ZodTransform<number, string | number>> {
  return z.union([z.number(), z.string()]).transform((raw, ctx) => {
    try {
      const value = toSafeNumber(parse(raw), what);
      if (value < 0) throw new Error(`${what} must not be negative`);
      return value;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof DomainError || err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  });
}

/** cpu: a plain number is millicores (as in the original config, 8000 = 8 cores); a string is a Kubernetes quantity in cores ("8", "500m"). */
const cpu = quantity((raw) => (typeof raw === 'number' ? wholeMillicores(raw) : toMilli(raw)), 'cpu');
const memory = quantity(parseMemory, 'memory');

function wholeMillicores(raw: number): bigint {
  if (!Number.isSafeInteger(raw)) throw new Error(`${raw} is not a whole number of millicores`);
  return BigInt(raw);
}

const port = z.number().int().min(0).max(65535);
const seconds = z.number().int().positive();
const path = z.string().trim();
/** Fractional seconds, for the timing of leader election. */
const interval = z.number().positive();
const objectName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS subdomain name (lowercase alphanumerics, "-" and ".")')
  .max(253);

const labelSelector = z
  .string()
  .trim()
  .refine((s) => s === '' || s.split(',').every((term) => /^[^=!\s,]+=[^=!\s,]*$/.test(term.trim())), {
    message: 'must be equality terms "key=value" separated by commas (they are also put on every workload)',
  });

/**
 * Items per list request of the informers' lists. Paged like client-go's
 * reflector: a page's JSON is parsed and slimmed as it arrives, so the full
 * objects of 10,000 pods are never in memory at once, and no single response
 * grows with the cluster. 100 rather than 500: 10,000 pods list no slower
 * (the next page is asked for ahead), and a restarted daemon then holds
 * about 65 MiB less resident memory with the same JS heap: native memory
 * that the larger page texts left behind.
 */
export const DEFAULT_LIST_PAGE_SIZE = 100;

/** The uid workloads run as when the operator names none: the "nonroot" user of distroless images. */
export const DEFAULT_WORKLOAD_UID = 65532;

/** An image pattern: no white space; `*` and `**` are the only wildcards (see core/images.ts). */
const imagePattern = z.string().min(1).regex(/^\S+$/, 'must not contain white space');

/**
 * How deployed pods are locked down. Each default is the safe choice (the
 * restricted Pod Security level admits the result); relaxing one is a
 * deliberate line in the config.
 */
const workloadSecurity = z
  .strictObject({
    run_as_non_root: z.boolean().default(true),
    /** Unset: 65532 while run_as_non_root, else the image's own user. null: always the image's own user. */
    run_as_user: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .nullable()
      .optional(),
    allow_privilege_escalation: z.boolean().default(false),
    privileged: z.boolean().default(false),
    drop_all_capabilities: z.boolean().default(true),
    seccomp_profile: z.enum(['RuntimeDefault', 'Unconfined']).default('RuntimeDefault'),
    automount_service_account_token: z.boolean().default(false),
    enable_service_links: z.boolean().default(false),
  })
  .prefault({})
  .superRefine((s, ctx) => {
    if (s.run_as_non_root && s.run_as_user === 0) {
      ctx.addIssue({ code: 'custom', path: ['run_as_user'], message: 'uid 0 is root; set run_as_non_root: false to run workloads as root' });
    }
    if (s.privileged && !s.allow_privilege_escalation) {
      ctx.addIssue({
        code: 'custom',
        path: ['privileged'],
        message: 'a privileged container can always escalate; set allow_privilege_escalation: true as well',
      });
    }
  })
  .transform(({ run_as_user, ...rest }) => ({
    ...rest,
    run_as_user: run_as_user === undefined ? (rest.run_as_non_root ? DEFAULT_WORKLOAD_UID : null) : run_as_user,
  }));

const labelText = z
  .string()
  .max(63)
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'must be a label value (alphanumerics, "-", "_", ".")');
const labelKey = z
  .string()
  .min(1)
  .max(317)
  .regex(
    /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/,
    'must be a label key ([prefix/]name)',
  );

const gpuToleration = z
  .strictObject({
    key: labelKey.optional(),
    operator: z.enum(['Exists', 'Equal']).default('Equal'),
    value: labelText.default(''),
    effect: z.enum(['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute']).default(''),
    toleration_seconds: z.number().int().optional(),
  })
  .superRefine((t, ctx) => {
    if (t.operator === 'Exists' && t.value) ctx.addIssue({ code: 'custom', path: ['value'], message: 'must be empty when operator is Exists' });
    if (!t.key && t.operator !== 'Exists') ctx.addIssue({ code: 'custom', path: ['key'], message: 'an empty key needs operator Exists' });
    if (t.toleration_seconds !== undefined && t.effect !== 'NoExecute')
      ctx.addIssue({ code: 'custom', path: ['toleration_seconds'], message: 'needs effect NoExecute' });
  });

const gpuPlacement = z
  .strictObject({
    /** Node labels a GPU deploy must land on, e.g. {nvidia.com/gpu.present: "true"}. */
    node_selector: z.record(labelKey, labelText).default({}),
    /** Taints of GPU nodes that GPU deploys tolerate. */
    tolerations: z.array(gpuToleration).default([]),
  })
  .prefault({});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().min(1).default('0.0.0.0'),
      port: port.default(50052),
      max_receive_message_bytes: z
        .number()
        .int()
        .positive()
        .max(64 * 1024 * 1024)
        .default(4 * 1024 * 1024),
      shutdown_grace_seconds: seconds.default(10),
      tls: z
        .strictObject({
          cert_file: path.min(1),
          key_file: path.min(1),
          client_ca_file: path.optional(),
        })
        .optional(),
      /** Shared-token authentication of every RPC; absent: none (TLS client certificates may still apply). */
      auth: z
        .strictObject({
          token_file: path.min(1),
          /** grpc.health.v1 without a token: kubelet gRPC probes cannot send one. */
          unauthenticated_health: z.boolean().default(true),
          /** Reflection without a token: it describes the API, so it is closed unless opened. */
          unauthenticated_reflection: z.boolean().default(false),
        })
        .optional(),
    })
    .prefault({}),
  kubernetes: z
    .strictObject({
      kubeconfig: path.default(''),
      namespace: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label (lowercase alphanumerics and "-")')
        .max(63)
        .default('default'),
      in_cluster: z.boolean().default(false),
      label_selector: labelSelector.default(''),
      resync_seconds: seconds.default(300),
      /**
       * The longest a Deploy waits on the API server (including retries after
       * 429 and 5xx) before it answers UNAVAILABLE; a shorter caller deadline wins.
       */
      deploy_timeout_seconds: interval.default(10),
      /**
       * Ask the API server for gzipped responses: `auto` does on a remote
       * server, not on loopback or the in-cluster Service address, where it
       * only costs CPU (adapters/kube/http.ts).
       */
      response_compression: z.enum(['auto', 'on', 'off']).default('auto'),
      /** Items per list request of the informers' lists (limit/continue); each next page is asked for while the last one is parsed. */
      list_page_size: z.number().int().min(1).max(10_000).default(DEFAULT_LIST_PAGE_SIZE),
    })
    .prefault({}),
  resource: z
    .strictObject({
      mode: z.enum(['static', 'auto']).default('static'),
      cpu: cpu.optional(),
      memory: memory.optional(),
      gpu: z.number().int().min(0).optional(),
      /** Bytes (or a quantity such as "100Gi") of emptyDir limits and claims lent; unset: storage is counted, never refused. */
      storage: memory.optional(),
      /** Keep a ResourceQuota in kubernetes.namespace equal to this capacity (core/quota-guard.ts). */
      enforce_with_resourcequota: z.boolean().default(false),
    })
    .prefault({})
    .superRefine((r, ctx) => {
      if (r.mode !== 'static') return;
      if (r.cpu === undefined) ctx.addIssue({ code: 'custom', path: ['cpu'], message: 'required when resource.mode is static' });
      if (r.memory === undefined) ctx.addIssue({ code: 'custom', path: ['memory'], message: 'required when resource.mode is static' });
    }),
  resource_tags: z.array(z.enum(RESOURCE_TAGS)).default(['cpu', 'memory', 'gpu']),
  session: z
    .strictObject({
      health_timeout_seconds: seconds.default(90),
      /** The Lease in kubernetes.namespace that holds the session, so it outlives the process; '' = derived (see leaseName). */
      lease_name: objectName.or(z.literal('')).default(''),
      /** Last-seen is written at most this often (write-behind); Connect and Disconnect are written at once. */
      persist_interval_seconds: seconds.default(10),
    })
    .prefault({}),
  leader_election: z
    .strictObject({
      /** '' = derived: k8s-provider-leader, suffixed by the label selector's hash when one is set. */
      lease_name: objectName.or(z.literal('')).default(''),
      lease_duration_seconds: interval.default(15),
      renew_deadline_seconds: interval.default(10),
      retry_period_seconds: interval.default(2),
      /** '' = the POD_NAME environment variable (downward API), else hostname_pid. */
      identity: z.string().trim().max(128).default(''),
      /** host:port where the other replica reaches this one; '' = POD_IP (downward API) or server.host, with server.port. */
      advertise_address: z.string().trim().default(''),
      /** How long a standby holds a Deploy while no replica is active before refusing it with UNAVAILABLE. */
      leader_wait_seconds: interval.default(5),
    })
    .prefault({})
    .superRefine((l, ctx) => {
      // client-go's rules: the holder gives up (renew deadline) before anyone may take over (lease duration).
      if (l.renew_deadline_seconds >= l.lease_duration_seconds) {
        ctx.addIssue({ code: 'custom', path: ['renew_deadline_seconds'], message: 'must be less than lease_duration_seconds' });
      }
      if (l.retry_period_seconds * 1.2 >= l.renew_deadline_seconds) {
        ctx.addIssue({ code: 'custom', path: ['retry_period_seconds'], message: 'times 1.2 (the jitter) must be less than renew_deadline_seconds' });
      }
    }),
  jobs: z
    .strictObject({
      timeout_seconds: seconds.default(3600),
      cleanup_policy: z.enum(CLEANUP_POLICIES as ['Always', 'OnSuccess', 'OnFailure']).default('OnSuccess'),
    })
    .prefault({}),
  workloads: z
    .strictObject({
      /** Empty: every image is allowed. Otherwise a deploy of any other image is refused with PERMISSION_DENIED. */
      allowed_images: z.array(imagePattern).default([]),
      security: workloadSecurity,
    })
    .prefault({}),
  /** Claim volumes: which StorageClasses they may use. */
  storage: z
    .strictObject({
      /** The class of a claim that names none; '' leaves it to the cluster's default StorageClass. */
      default_class: objectName.or(z.literal('')).default(''),
      /** Empty: any class; otherwise a claim of another class is refused with INVALID_ARGUMENT. */
      allowed_classes: z.array(objectName).default([]),
    })
    .prefault({})
    .superRefine((st, ctx) => {
      if (st.default_class && st.allowed_classes.length > 0 && !st.allowed_classes.includes(st.default_class)) {
        ctx.addIssue({ code: 'custom', path: ['default_class'], message: 'must be one of storage.allowed_classes' });
      }
    }),
  /** Where GPU deploys run: added to every deploy that asks for a GPU. */
  gpu: gpuPlacement,
  limits: z.strictObject({ max_instances: z.number().int().positive().default(100) }).prefault({}),
  instances: z
    .strictObject({
      /** A pod Unschedulable or waiting on an image/config error this long is stuck (InvalidImageName at once). */
      stuck_after_seconds: seconds.default(300),
      /** Delete stuck instances (their room is released either way). */
      delete_stuck: z.boolean().default(true),
      /** Finished Pods, and Jobs their cleanup policy keeps, are removed this long after they finished. */
      keep_finished_seconds: z.number().int().min(0).default(600),
      /** At most this many finished workloads are kept; the oldest go first. */
      max_finished: z.number().int().min(0).default(1000),
      /** Changes a WatchInstances client may fall behind by before it gets a resync and a fresh snapshot. */
      watch_buffer: z.number().int().min(16).max(1_000_000).default(1024),
      /** How long GetLogs waits for the node to start answering. */
      logs_connect_timeout_seconds: seconds.default(10),
      /** SendHttpRequest: size limits and the default timeout. */
      request: requestLimitsSchema,
    })
    .prefault({}),
  /** Services and NetworkPolicies of instances. */
  network: networkSchema,
  /** Kubernetes Events (events.k8s.io/v1) on the workloads and on the daemon's pod or session Lease; best effort. */
  events: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Repeats of an event are one Event whose series count is written at most this often. */
      series_interval_seconds: interval.default(10),
      /** A series with no repeat for this long ends; a later occurrence starts a new Event (client-go: 6 minutes). */
      series_finish_seconds: interval.default(360),
      /** Event writes (creates and count patches) per second after a burst of events.burst. */
      writes_per_second: interval.default(5),
      burst: z.number().int().positive().default(25),
      /** Distinct events kept while waiting to be written; beyond, new ones are dropped (and counted). */
      queue_size: z.number().int().min(16).max(100_000).default(1000),
    })
    .prefault({}),
  log: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).prefault({}),
  /** The metrics.k8s.io poller behind GetRealTimeUsage. */
  usage: z.strictObject({ interval_seconds: seconds.default(15) }).prefault({}),
  /** The Prometheus exporter's HTTP listener; port 0 turns it off. */
  prometheus: z
    .strictObject({
      host: z.string().min(1).default('0.0.0.0'),
      port: port.default(9090),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;
