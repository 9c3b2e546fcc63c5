/**
 * The handler wrappers every service uses: each call is logged once and
 * reported to the observer with its service name, anything thrown becomes a
 * status through status.ts only, and a handler answers exactly once.
 */
import type * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Logger } from '../../core/ports.js';
import { invalidArgument, toDomainError, type DomainError } from '../../core/errors.js';
import type { RpcObserver } from '../../shared/observability.js';
import { codeOf, inBandError, toServiceError } from './status.js';
import { POLL_METHODS, type PollSummary } from './poll-summary.js';

export type { RpcObserver };

/**
 * What a request that does not decode becomes (see services.ts): grpc-js
 * would answer INTERNAL for a message it cannot parse, but the fault is the
 * caller's, so the wrappers answer INVALID_ARGUMENT (in-band where the method
 * answers in-band) and the handler never runs.
 */
export class MalformedRequest {
  constructor(readonly problem: string) {}
}

const checked = <Req>(req: Req): Req => {
  if (req instanceof MalformedRequest) throw invalidArgument(`malformed request: ${req.problem}`);
  return req;
};

/** What a service's handlers share: where calls are logged and reported. */
export interface RpcContext {
  readonly log: Logger;
  readonly observer?: RpcObserver | undefined;
  /** Response headers for every unary answer (which replica answered, which one is active). */
  readonly responseHeaders?: (() => grpc.Metadata) | undefined;
  /** Where successful polls are counted; without it they are logged per call at info like the rest. */
  readonly polls?: PollSummary | undefined;
}

/** What a server-streaming handler gets besides the request. */
export interface StreamControl<Res> {
  /** Sends one message; resolves once the transport takes more (back-pressure), or at once if the call is cancelled. */
  send(message: Res): Promise<void>;
  /** Aborted when the client cancels, its deadline passes or the server shuts down. */
  readonly signal: AbortSignal;
}

interface Finished {
  readonly code: status;
  readonly error?: string | undefined;
  /** Extra log fields (e.g. the number of messages a stream sent). */
  readonly fields?: Record<string, unknown>;
}

/** The wrappers for one service, bound to its fully-qualified name. */
export class RpcKit {
  constructor(
    readonly service: string,
    private readonly ctx: RpcContext,
  ) {}

  /**
   * Wraps a unary call. `inBand` turns a failure into a successful response
   * that carries the error (Connect and Deploy, as the existing client
   * expects); without it the failure is a gRPC status.
   */
  unary<Req, Res>(
    method: string,
    run: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
    inBand?: (message: string, error: DomainError) => Res,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const started = performance.now();
      const req = call.request;
      // The answer goes out before the call is logged and counted: http2 flushes
      // the response in the next check phase, and the report runs right after
      // it, off the caller's latency (the logged duration still ends at the answer).
      const answer = (result: Settled<Res>): void => {
        if (this.ctx.responseHeaders) call.sendMetadata(this.ctx.responseHeaders());
        if (result.ok) {
          const seconds = secondsSince(started);
          callback(null, result.value);
          setImmediate(() => this.finished(method, req, seconds, OK));
          return;
        }
        const domain = toDomainError(result.error);
        if (inBand) {
          const answer = inBand(inBandError(domain), domain);
          const seconds = secondsSince(started);
          callback(null, answer);
          setImmediate(() => this.finished(method, req, seconds, { code: codeOf(domain), error: domain.message }));
          return;
        }
        const failure = toServiceError(domain);
        const seconds = secondsSince(started);
        callback(failure);
        setImmediate(() => this.finished(method, req, seconds, { code: failure.code, error: failure.details }));
      };
      // A handler that answers from memory (the polls) is answered in the same
      // turn, as a bare grpc-js handler would: no promise, no microtask.
      let value: Promise<Res> | Res;
      try {
        value = run(checked(req), call);
      } catch (error) {
        answer({ ok: false, error });
        return;
      }
      if (isThenable(value)) {
        value.then(
          (v) => answer({ ok: true, value: v }),
          (error: unknown) => answer({ ok: false, error }),
        );
      } else answer({ ok: true, value });
    };
  }

  /**
   * Wraps a server-streaming call: `run` sends messages until it returns
   * (status OK) or throws (the mapped status). A client that cancels (or
   * whose deadline passes) ends the call as CANCELLED: `signal` aborts so
   * `run` can stop its work, and nothing more is written.
   */
  serverStream<Req, Res>(method: string, run: (req: Req, stream: StreamControl<Res>) => Promise<void> | void): grpc.handleServerStreamingCall<Req, Res> {
    return (call) => {
      const started = performance.now();
      const req = call.request;
      const abort = new AbortController();
      const onCancel = (): void => abort.abort();
      call.once('cancelled', onCancel);
      let sent = 0;
      const send = async (message: Res): Promise<void> => {
        if (abort.signal.aborted) return;
        sent++;
        if (call.write(message)) return;
        await new Promise<void>((resolve) => {
          const done = (): void => {
            call.off('drain', done);
            abort.signal.removeEventListener('abort', done);
            resolve();
          };
          call.once('drain', done);
          abort.signal.addEventListener('abort', done, { once: true });
        });
      };
      void settle(() => run(checked(req), { send, signal: abort.signal })).then((result) => {
        call.off('cancelled', onCancel);
        if (abort.signal.aborted) {
          // The client is gone: there is nobody to answer, only a call to count.
          this.finished(method, req, secondsSince(started), { code: status.CANCELLED, fields: { messages: sent } });
          return;
        }
        if (!result.ok) {
          const failure = toServiceError(result.error);
          this.finished(method, req, secondsSince(started), { code: failure.code, error: failure.details, fields: { messages: sent } });
          call.emit('error', failure);
          return;
        }
        this.finished(method, req, secondsSince(started), { code: status.OK, fields: { messages: sent } });
        call.end();
        return;
      });
    };
  }

  private finished(method: string, req: unknown, seconds: number, outcome: Finished): void {
    const durationMs = Math.round(seconds * 1e6) / 1e3;
    const polls = this.ctx.polls;
    this.ctx.observer?.rpcFinished(this.service, method, status[outcome.code], seconds);
    if (outcome.code === status.OK && polls && POLL_METHODS.has(method)) {
      polls.count(this.service, method, durationMs);
      // At info, the default, a poll's line is never written, so its fields are not built either.
      if (this.ctx.log.isLevelEnabled?.('debug') !== false) this.ctx.log.debug(this.fieldsOf(method, req, durationMs, outcome), 'rpc');
      return;
    }
    const fields = this.fieldsOf(method, req, durationMs, outcome);
    if (outcome.code === status.OK) this.ctx.log.info(fields, 'rpc');
    else if (outcome.code === status.INTERNAL) this.ctx.log.error(fields, 'rpc');
    else this.ctx.log.warn(fields, 'rpc');
  }

  private fieldsOf(method: string, req: unknown, durationMs: number, outcome: Finished): Record<string, unknown> {
    const providerId = (req as { providerId?: unknown } | undefined)?.providerId;
    return {
      service: this.service,
      method,
      ...(typeof providerId === 'string' ? { providerId } : {}),
      durationMs,
      code: status[outcome.code],
      ...outcome.fields,
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
    };
  }
}

/** The outcome of every successful unary call, allocated once. */
const OK: Finished = { code: status.OK };

function secondsSince(started: number): number {
  return (performance.now() - started) / 1e3;
}

function isThenable<T>(value: Promise<T> | T): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Runs `fn` and never rejects: a synchronous throw counts as a failure like a rejection. */
async function settle<T>(fn: () => Promise<T> | T): Promise<Settled<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error };
  }
}
