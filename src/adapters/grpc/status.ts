/** The one place where domain error kinds become gRPC status codes. */
import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { ErrorKind, toDomainError, type DomainError } from '../../core/errors.js';

const CODES: Record<ErrorKind, status> = {
  [ErrorKind.InvalidArgument]: status.INVALID_ARGUMENT,
  [ErrorKind.NotFound]: status.NOT_FOUND,
  [ErrorKind.AlreadyExists]: status.ALREADY_EXISTS,
  [ErrorKind.ResourceExhausted]: status.RESOURCE_EXHAUSTED,
  [ErrorKind.PermissionDenied]: status.PERMISSION_DENIED,
  [ErrorKind.FailedPrecondition]: status.FAILED_PRECONDITION,
  [ErrorKind.Unavailable]: status.UNAVAILABLE,
  [ErrorKind.Internal]: status.INTERNAL,
};

export function codeOf(err: DomainError): status {
  return CODES[err.kind];
}

/** Anything thrown, as the status error a handler passes to its callback. */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: status } {
  const domain = toDomainError(err);
  return { code: codeOf(domain), details: domain.message, metadata: new Metadata() };
}

/** The in-band form Connect and Deploy use: "RESOURCE_EXHAUSTED: needs 500m cpu, ...". */
export function inBandError(err: unknown): string {
  const domain = toDomainError(err);
  return `${status[codeOf(domain)]}: ${domain.message}`;
}
