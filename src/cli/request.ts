/**
 * `k8s-provider-cli request ID`: one HTTP request to a running instance
 * through SendHttpRequest, printed like curl prints it (the body; with
 * --include the status line and headers first). Parsing is pure.
 */
import { readFileSync } from 'node:fs';
import type { SendHttpRequestRequest, SendHttpRequestResponse__Output } from '../adapters/grpc/contract.js';

export const REQUEST_FLAGS = {
  method: { type: 'string', short: 'X' },
  path: { type: 'string' },
  header: { type: 'string', short: 'H', multiple: true },
  data: { type: 'string', short: 'd' },
  'data-file': { type: 'string' },
  include: { type: 'boolean' },
} as const;
/** Shared with deploy: --port (the instance's port) and --timeout (seconds). */
export const REQUEST_SHARED_FLAGS = ['port', 'timeout'] as const;

export const REQUEST_HELP = `request flags:
  -X, --method M          GET (default), HEAD, POST, PUT, PATCH or DELETE
  --path /P?Q             path and query (default /)
  --port N                the container port (default: the instance's only TCP port)
  -H, --header 'K: V'     repeatable
  -d, --data TEXT         the request body (or --data-file FILE)
  --timeout SECONDS       wait this long for the whole answer (default instances.request.timeout_seconds)
  --include               print the status line and headers before the body
  exits 1 when the instance answers 400 or above
`;

export interface RequestValues {
  readonly method?: string | undefined;
  readonly path?: string | undefined;
  readonly header?: readonly string[] | undefined;
  readonly data?: string | undefined;
  readonly 'data-file'?: string | undefined;
  readonly port?: readonly string[] | undefined;
  readonly timeout?: string | undefined;
}

/** The request; throws a message naming the flag for a bad value. */
export function requestFromFlags(providerId: string, instanceId: string, values: RequestValues): SendHttpRequestRequest {
  const ports = values.port ?? [];
  if (ports.length > 1) throw new Error('request: one --port only');
  const port = ports[0] === undefined ? 0 : Number(ports[0]);
  if (ports[0] !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new Error(`--port "${ports[0]}" is not a port number (1-65535)`);
  }
  const headers = (values.header ?? []).map((raw) => {
    const colon = raw.indexOf(':');
    if (colon <= 0) throw new Error(`--header "${raw}": expected "Name: value"`);
    return { name: raw.slice(0, colon).trim(), value: raw.slice(colon + 1).trim() };
  });
  if (values.data !== undefined && values['data-file'] !== undefined) throw new Error('--data and --data-file go one at a time');
  const body = values['data-file'] !== undefined ? readFileSync(values['data-file']) : Buffer.from(values.data ?? '');
  let timeoutMs = 0;
  if (values.timeout !== undefined) {
    const seconds = Number(values.timeout);
    if (!(Number.isFinite(seconds) && seconds > 0)) throw new Error(`--timeout "${values.timeout}" is not a positive number of seconds`);
    timeoutMs = Math.round(seconds * 1000);
  }
  return {
    providerId,
    instanceId,
    port,
    method: (values.method ?? 'GET').toUpperCase(),
    path: values.path ?? '/',
    headers,
    body,
    timeoutMs: String(timeoutMs),
  };
}

/** What is printed for an answer: the body, after the status line and headers with --include. */
export function answerText(res: SendHttpRequestResponse__Output, include: boolean): string {
  const body = Buffer.from(res.body).toString('utf8');
  if (!include) return body;
  return `HTTP ${res.statusCode}\n${res.headers.map((h) => `${h.name}: ${h.value}\n`).join('')}\n${body}`;
}

export function answerJson(res: SendHttpRequestResponse__Output): string {
  return `${JSON.stringify(
    {
      statusCode: res.statusCode,
      headers: res.headers.map((h) => ({ name: h.name, value: h.value })),
      body: Buffer.from(res.body).toString('utf8'),
      podName: res.podName,
    },
    null,
    2,
  )}\n`;
}

/** Prints the answer; the exit code is 1 when the instance answered 400 or above. */
export function printAnswer(
  res: SendHttpRequestResponse__Output,
  include: boolean,
  json: boolean,
  io: { out(text: string): void; err(text: string): void },
): number {
  io.out(json ? answerJson(res) : answerText(res, include));
  if (res.statusCode < 400) return 0;
  io.err(`k8s-provider-cli: request: the instance answered HTTP ${res.statusCode}\n`);
  return 1;
}
