/** The process logger: pino JSON on stdout, one instance passed down from main. */
import { pino, type Logger as PinoLogger } from 'pino';

export function createLogger(level: string): PinoLogger {
  return pino({
    level,
    base: { service: 'k8s-provider' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Belt and braces: values of env vars must never reach a log line.
    redact: { paths: ['envVars', 'env', '*.envVars', '*.env'], censor: '[redacted]' },
  });
}
