/**
 * network.* (how instances are isolated) and instances.request.* (the size
 * limits of SendHttpRequest), kept apart from the rest of the schema.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

function isCidr(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash < 0) return false;
  const ip = value.slice(0, slash);
  const bits = value.slice(slash + 1);
  const family = isIP(ip);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

const cidr = z.string().trim().refine(isCidr, { message: 'must be a CIDR such as 10.0.0.0/8 or fd00::/8' });
const namespaceName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name (a DNS label)')
  .max(63);
/** A label key, optionally prefixed ("app", "example.com/group"); '' = none. */
const labelKey = z
  .string()
  .trim()
  .regex(/^(([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\/)?([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/, 'must be a label key')
  .or(z.literal(''));

export const networkSchema = z
  .strictObject({
    /** Every instance gets a NetworkPolicy denying ingress but from the sources below. */
    isolate: z.boolean().default(true),
    /** Whether a Deploy may set workload.network.isolate=false. */
    allow_opt_out: z.boolean().default(false),
    /** A workload label key: instances with the same value reach each other. '' = a workload names its own (workload.network.peer_label). */
    peer_label: labelKey.default(''),
    ingress: z
      .strictObject({
        /** e.g. the control plane's, or the nodes' (the API server's proxy and NodePort traffic arrive from there). */
        from_cidrs: z.array(cidr).default([]),
        /** Every pod of these namespaces (e.g. an ingress controller's). */
        from_namespaces: z.array(namespaceName).default([]),
      })
      .prefault({}),
    egress: z
      .strictObject({
        /** true: egress is not restricted. false: only DNS (when dns), the peers and to_cidrs. */
        allow_all: z.boolean().default(true),
        to_cidrs: z.array(cidr).default([]),
        dns: z.boolean().default(true),
      })
      .prefault({}),
  })
  .prefault({});

const MIB = 1024 * 1024;

export const requestLimitsSchema = z
  .strictObject({
    /** A larger request body is refused with INVALID_ARGUMENT. */
    max_request_bytes: z
      .number()
      .int()
      .positive()
      .max(64 * MIB)
      .default(MIB),
    /** A larger answer body is refused with RESOURCE_EXHAUSTED (and the transfer cut). */
    max_response_bytes: z
      .number()
      .int()
      .positive()
      .max(64 * MIB)
      .default(MIB),
    /** When the request names no timeout_ms. */
    timeout_seconds: z.number().int().positive().max(3600).default(30),
  })
  .prefault({});
