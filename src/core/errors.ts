/**
 * Domain errors carry a kind; exactly one function (adapters/grpc/status.ts)
 * turns kinds into transport codes, so the core never knows about gRPC.
 */
export const ErrorKind = {
  InvalidArgument: 'INVALID_ARGUMENT',
  NotFound: 'NOT_FOUND',
  AlreadyExists: 'ALREADY_EXISTS',
  ResourceExhausted: 'RESOURCE_EXHAUSTED',
  PermissionDenied: 'PERMISSION_DENIED',
  FailedPrecondition: 'FAILED_PRECONDITION',
  Unavailable: 'UNAVAILABLE',
  Internal: 'INTERNAL',
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const invalidArgument = (msg: string): DomainError => new DomainError(ErrorKind.InvalidArgument, msg);
export const notFound = (msg: string): DomainError => new DomainError(ErrorKind.NotFound, msg);
export const alreadyExists = (msg: string): DomainError => new DomainError(ErrorKind.AlreadyExists, msg);
export const resourceExhausted = (msg: string): DomainError => new DomainError(ErrorKind.ResourceExhausted, msg);
export const permissionDenied = (msg: string): DomainError => new DomainError(ErrorKind.PermissionDenied, msg);
export const failedPrecondition = (msg: string): DomainError => new DomainError(ErrorKind.FailedPrecondition, msg);
export const unavailable = (msg: string, cause?: unknown): DomainError => new DomainError(ErrorKind.Unavailable, msg, { cause });

/** Anything thrown, as a DomainError; unknown failures are Internal, never swallowed. */
export function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DomainError(ErrorKind.Internal, message, { cause: err });
}
