/** The process logger: pino JSON on stdout, one instance passed down from main. */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

/**
 * How lines reach stdout. Written synchronously, every RPC's access line was a
 * write(2) on the event loop, the largest single cost of a control call under
 * load. Lines now collect in memory and go out in one write when 8 KiB have
 * gathered or every 250 ms, whichever comes first; on process exit (a normal
 * stop, process.exit, an uncaught exception or rejection) pino flushes what
 * is left synchronously. The buffer is bounded: when stdout is not being read
 * (a stalled pipe or log collector), lines beyond 8 MiB are dropped and
 * counted instead of stalling the daemon, and the count is logged once the
 * output moves again. Only SIGKILL (or a fatal V8 error) can lose the last
 * 250 ms of lines.
 */
export const LOG_BUFFER = { minBytes: 8 * 1024, maxBytes: 8 * 1024 * 1024, flushMs: 250 } as const;

export interface LogOutput {
  readonly stream: DestinationStream;
  /** Lines dropped because the buffer was full (since start). */
  dropped(): number;
}

/** The buffered stdout (or `fd`) destination; `sync` keeps the old one-write-per-line behaviour. */
export function logOutput(options: { fd?: number; sync?: boolean } = {}): LogOutput {
  const sync = options.sync ?? false;
  const stream = pino.destination({
    dest: options.fd ?? 1,
    sync,
    ...(sync ? {} : { minLength: LOG_BUFFER.minBytes, maxLength: LOG_BUFFER.maxBytes, periodicFlush: LOG_BUFFER.flushMs }),
  });
  let dropped = 0;
  let reported = 0;
  stream.on('drop', (data: string | Buffer) => {
    dropped += String(data).split('\n').filter(Boolean).length || 1;
  });
  // Once the output moves again, say how much was lost, in the log itself.
  stream.on('write', () => {
    if (dropped === reported) return;
    const n = dropped - reported;
    reported = dropped;
    stream.write(
      `${JSON.stringify({ level: 40, time: new Date().toISOString(), service: 'k8s-provider', droppedLines: n, msg: 'log output was not being read: lines dropped' })}\n`,
    );
  });
  return { stream, dropped: () => dropped };
}

export function createLogger(level: string, output: LogOutput = logOutput()): PinoLogger {
  return pino(
    {
      level,
      base: { service: 'k8s-provider' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Belt and braces: values of env vars must never reach a log line.
      redact: { paths: ['envVars', 'env', '*.envVars', '*.env'], censor: '[redacted]' },
    },
    output.stream,
  );
}
