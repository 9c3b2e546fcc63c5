/**
 * Kubernetes names and label values derived from instance and provider ids.
 * A hash suffix is added whenever the id had to be changed, so two distinct
 * ids can never map to the same object.
 */
import { createHash } from 'node:crypto';

const MAX_NAME = 63;
const HASH_LENGTH = 8;

function shortHash(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, HASH_LENGTH);
}

/** Replaces what `invalid` matches with '-' and trims the ends to alphanumerics. */
function sanitise(id: string, invalid: RegExp): string {
  return id
    .replace(invalid, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

function withSuffix(id: string, clean: string): string {
  if (clean === id && id.length <= MAX_NAME) return id;
  const room = MAX_NAME - HASH_LENGTH - 1;
  const head = clean.slice(0, room).replace(/[^a-zA-Z0-9]+$/, '');
  return head ? `${head}-${shortHash(id)}` : `i-${shortHash(id)}`;
}

/** An RFC 1123 label (lowercase alphanumerics and '-', at most 63): valid for Pod and Job names alike. */
export function workloadName(instanceId: string): string {
  return withSuffix(instanceId, sanitise(instanceId.toLowerCase(), /[^a-z0-9-]/g));
}

/** A label value (alphanumerics, '-', '_', '.', at most 63); the exact id lives in an annotation. */
export function labelValue(id: string): string {
  return withSuffix(id, sanitise(id, /[^A-Za-z0-9._-]/g));
}
