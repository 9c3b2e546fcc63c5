/**
 * The one place where Kubernetes API failures become domain errors, and which
 * failures are worth retrying (retry.ts does the retrying).
 */
import { ApiException } from '@kubernetes/client-node';
import { admissionRefusal } from './kube-admission-errors.js';
import { DomainError, ErrorKind, alreadyExists, failedPrecondition, invalidArgument, permissionDenied, unavailable } from '../core/errors.js';

export interface ApiCall {
  readonly verb: string; // create, get, list, delete, ...
  readonly resource: string; // pods, jobs, ...
  readonly namespace?: string | undefined;
}

/** The Status object the API server answers a failed call with (the fields we read). */
export interface ApiStatus {
  kind?: string;
  code?: number;
  message?: string;
  reason?: string;
  details?: { kind?: string; name?: string; retryAfterSeconds?: number };
}

/** The Status the API server sent with an ApiException (parsed if it came as text); undefined for other errors. */
export function apiStatusOf(err: unknown): ApiStatus | undefined {
  return err instanceof ApiException ? statusBody(err.body) : undefined;
}

function statusBody(body: unknown): ApiStatus {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as ApiStatus;
    } catch {
      return { message: body };
    }
  }
  return (body ?? {}) as ApiStatus;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** HTTP status of an API failure, or undefined for transport failures. */
export function httpStatusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  // Only an explicit statusCode is HTTP: a numeric `code` also appears on
  // DOMExceptions (AbortError is 20, TimeoutError 23) and means nothing here.
  const statusCode = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === 'number' ? statusCode : undefined;
}

function isNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown; errno?: unknown }).code ?? (e as { errno?: unknown }).errno;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if ((e as { type?: unknown }).type === 'system' || (e as { name?: unknown }).name === 'AbortError') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * How long the API server asked us to wait before trying again: its
 * Retry-After header (seconds, or an HTTP date), else the Status's
 * details.retryAfterSeconds. API Priority and Fairness sends it with 429, a
 * server shutting down with 503.
 */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const headers = (err.headers ?? {}) as Record<string, string | undefined>;
  const raw = headers['retry-after'] ?? headers['Retry-After'];
  if (raw !== undefined && raw.trim() !== '') {
    const value = raw.trim();
    if (/^\d+$/.test(value)) return Number(value) * 1000;
    const at = Date.parse(value);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const seconds = apiStatusOf(err)?.details?.retryAfterSeconds;
  return typeof seconds === 'number' && seconds >= 0 ? seconds * 1000 : undefined;
}

/** 429, 5xx and transport failures are worth another try; everything else is an answer. */
export function isRetryable(err: unknown): boolean {
  const code = httpStatusOf(err);
  if (code !== undefined) return code === 429 || code >= 500;
  return isNetworkError(err);
}

export function mapApiError(err: unknown, call: ApiCall): DomainError {
  if (err instanceof DomainError) return err;
  const where = call.namespace ? ` in namespace "${call.namespace}"` : '';
  const code = httpStatusOf(err);
  if (code === undefined) {
    const detail = err instanceof Error ? err.message : String(err);
    return unavailable(`cannot reach the Kubernetes API server to ${call.verb} ${call.resource}: ${detail}`, err);
  }
  const body = apiStatusOf(err) ?? {};
  const message = body.message ?? `HTTP ${code}`;
  switch (code) {
    case 401:
      return new DomainError(ErrorKind.PermissionDenied, `the API server rejected our credentials (${message})`, { cause: err });
    case 403:
      return admissionRefusal(message) ?? permissionDenied(`not allowed to ${call.verb} ${call.resource}${where}: ${message}`);
    case 404:
      // Only a namespaced call whose namespace is missing; reading a Namespace object that is absent is a plain NotFound.
      if (
        call.namespace &&
        ((body.details?.kind === 'namespaces' && body.details.name === call.namespace) || message.includes(`namespaces "${call.namespace}" not found`))
      ) {
        return failedPrecondition(`namespace "${call.namespace}" does not exist`);
      }
      return new DomainError(ErrorKind.NotFound, message, { cause: err });
    case 409:
      return alreadyExists(message);
    case 400:
    case 422:
      return invalidArgument(`the API server refused the ${call.resource.replace(/s$/, '')}: ${message}`);
    case 429: {
      const after = retryAfterMs(err);
      const hint = after !== undefined ? `; it asked to retry after ${Math.ceil(after / 1000)} s` : '';
      return unavailable(`the API server is overloaded (429) when trying to ${call.verb} ${call.resource}: ${message}${hint}`, err);
    }
    default:
      if (code >= 500) return unavailable(`the API server failed to ${call.verb} ${call.resource} (HTTP ${code}): ${message}`, err);
      return new DomainError(ErrorKind.Internal, `${call.verb} ${call.resource}: HTTP ${code}: ${message}`, { cause: err });
  }
}
