/**
 * Token authentication against a real grpc-js server on localhost:0: the
 * interceptor covers every method of every service without being told
 * about them, refuses before a handler runs, and reads rotations.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { authInterceptor, authProblem, HEALTH_SERVICE } from './auth.js';
import { HealthReporter } from './health.js';
import { loadProto } from './proto.js';
import { bind, createServer } from './server.js';
import { MIN_TOKEN_LENGTH, parseTokens, TokenFile } from './token-file.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const dir = mkdtempSync(join(tmpdir(), 'k8s-provider-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OLD = 'old-token-0123456789abcdef';
const NEW = 'new-token-fedcba9876543210';

function tokenFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A client interceptor that sends `authorization: <value>` on every call. */
const sending =
  (value: string): grpc.Interceptor =>
  (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start: (metadata, listener, go) => {
        metadata.set('authorization', value);
        go(metadata, listener);
      },
    });

describe('parseTokens', () => {
  it('takes one token per line, skipping blanks and comments', () => {
    expect(parseTokens(`# rotated 2026-11\n\n  ${OLD}  \r\n${NEW}\n`)).toEqual({ tokens: [OLD, NEW], problems: [] });
  });

  it('names the line of a bad token, never its content', () => {
    const { problems } = parseTokens(`${OLD}\nshort\nhas space in-it-0123456789\n`);
    expect(problems).toEqual([`line 2: a token must be at least ${MIN_TOKEN_LENGTH} characters`, 'line 3: a token must be visible ASCII without spaces']);
    expect(problems.join()).not.toContain('short');
    expect(parseTokens('# nothing\n').problems).toEqual(['no token in the file']);
  });
});

describe('TokenFile', () => {
  it('refuses to start without a usable file, naming the key and path', () => {
    expect(() => TokenFile.open(join(dir, 'absent'), silent)).toThrow(`server.auth.token_file ${join(dir, 'absent')}: file not found`);
    expect(() => TokenFile.open(tokenFile('empty', ''), silent)).toThrow('no token in the file');
  });

  it('accepts exactly the listed tokens', () => {
    const file = TokenFile.open(tokenFile('two', `${OLD}\n${NEW}\n`), silent);
    expect([file.verify(OLD), file.verify(NEW), file.verify(`${OLD}x`), file.verify(OLD.slice(0, -1)), file.verify('')]).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('follows a rotation without a restart, and keeps the last good tokens while the file is unusable', async () => {
    const path = tokenFile('rotating', `${OLD}\n`);
    const errors: string[] = [];
    const file = TokenFile.open(path, { ...silent, error: (o: object) => errors.push(JSON.stringify(o)) }, { pollMs: 20 });
    file.start();
    try {
      // Waits for the poll to have seen the change (no fixed sleep: a busy machine polls late).
      const until = async (ok: () => boolean): Promise<void> => {
        for (let i = 0; i < 250 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
      };
      // Step 1 of a rotation: both tokens. Written as a Secret volume does it: a new file renamed over the old.
      writeFileSync(`${path}.tmp`, `${OLD}\n${NEW}\n`);
      renameSync(`${path}.tmp`, path);
      await until(() => file.verify(NEW));
      expect([file.verify(OLD), file.verify(NEW)]).toEqual([true, true]);
      // Step 2: the old token is gone, and refused from the next poll on.
      writeFileSync(`${path}.tmp`, `${NEW}\n`);
      renameSync(`${path}.tmp`, path);
      await until(() => !file.verify(OLD));
      expect([file.verify(OLD), file.verify(NEW)]).toEqual([false, true]);
      // A broken file locks nobody out, and is reported without its content.
      writeFileSync(path, 'oops\n');
      await until(() => errors.length > 0);
      expect(file.verify(NEW)).toBe(true);
      expect(errors.join()).toContain('line 1: a token must be at least');
      expect(errors.join()).not.toContain('oops');
    } finally {
      file.stop();
    }
  });
});

describe('authProblem', () => {
  const tokens = { verify: (t: string) => t === OLD };
  const md = (...values: string[]): grpc.Metadata => {
    const m = new grpc.Metadata();
    for (const v of values) m.add('authorization', v);
    return m;
  };
  it.each<[string[], string | undefined]>([
    [[`Bearer ${OLD}`], undefined],
    [[`bearer ${OLD}`], undefined],
    [[], 'missing "authorization: Bearer <token>" metadata'],
    [[OLD], 'authorization metadata is not "Bearer <token>"'],
    [[`Basic ${OLD}`], 'authorization metadata is not "Bearer <token>"'],
    [['Bearer wrong-token-0123456789'], 'invalid bearer token'],
    [[`Bearer ${OLD}`, `Bearer ${OLD}`], 'more than one authorization value'],
  ])('%j -> %s', (values, problem) => {
    expect(authProblem(md(...values), tokens)).toBe(problem);
  });
});

describe('authInterceptor on a server', () => {
  async function serve(openServices: string[]) {
    const calls: string[] = [];
    const warnings: object[] = [];
    const finished: string[] = [];
    const tokens = TokenFile.open(tokenFile(`srv-${openServices.length}`, `${OLD}\n`), silent);
    const server = createServer({
      maxReceiveMessageBytes: 1024 * 1024,
      interceptors: [
        authInterceptor({
          tokens,
          openServices: new Set(openServices),
          log: { ...silent, warn: (o: object) => warnings.push(o) },
          observer: { rpcFinished: (s, m, code) => finished.push(`${s}/${m} ${code}`) },
        }),
      ],
    });
    const { grpcObject } = loadProto();
    const handler =
      (name: string): grpc.handleUnaryCall<unknown, unknown> =>
      (_call, cb) => {
        calls.push(name);
        cb(null, {});
      };
    server.addService(grpcObject.provider.Service.service, {
      Deploy: handler('Deploy'),
      GetCapacity: handler('GetCapacity'),
    } as grpc.UntypedServiceImplementation);
    new HealthReporter(() => true, silent, ['provider.Service']).addToServer(server);
    const port = await bind(server, '127.0.0.1:0', grpc.ServerCredentials.createInsecure());
    const client = (authorization?: string) =>
      new grpcObject.provider.Service(
        `127.0.0.1:${port}`,
        grpc.credentials.createInsecure(),
        authorization ? { interceptors: [sending(authorization)] } : {},
      ) as unknown as grpc.Client & Record<string, (req: object, cb: (err: grpc.ServiceError | null) => void) => void>;
    const health = (authorization?: string) =>
      new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), authorization ? { interceptors: [sending(authorization)] } : {});
    return { server, calls, warnings, finished, client, health };
  }

  const unary = (c: grpc.Client, method: string): Promise<string> =>
    new Promise((resolve) =>
      (c as unknown as Record<string, (req: object, cb: (err: grpc.ServiceError | null) => void) => void>)[method]!({}, (err) =>
        resolve(err ? `${grpc.status[err.code]}: ${err.details}` : 'OK'),
      ),
    );
  const checkHealth = (c: grpc.Client): Promise<string> =>
    new Promise((resolve) =>
      c.makeUnaryRequest(
        `/${HEALTH_SERVICE}/Check`,
        () => Buffer.alloc(0),
        (b: Buffer) => b,
        {},
        (err) => resolve(err ? grpc.status[err.code] : 'OK'),
      ),
    );

  it('refuses every method without a valid token before its handler runs, and lets a valid one through', async () => {
    const s = await serve([]);
    try {
      expect(await unary(s.client(), 'Deploy')).toBe('UNAUTHENTICATED: missing "authorization: Bearer <token>" metadata');
      expect(await unary(s.client('Bearer not-the-token-0123456789'), 'Deploy')).toBe('UNAUTHENTICATED: invalid bearer token');
      expect(await unary(s.client('Bearer not-the-token-0123456789'), 'GetCapacity')).toBe('UNAUTHENTICATED: invalid bearer token');
      // A service the interceptor was never told about (health) is covered too.
      expect(await checkHealth(s.health())).toBe('UNAUTHENTICATED');
      expect(s.calls).toEqual([]);
      expect(await unary(s.client(`Bearer ${OLD}`), 'Deploy')).toBe('OK');
      expect(await checkHealth(s.health(`Bearer ${OLD}`))).toBe('OK');
      expect(s.calls).toEqual(['Deploy']);
      expect(s.finished).toEqual([
        'provider.Service/Deploy UNAUTHENTICATED',
        'provider.Service/Deploy UNAUTHENTICATED',
        'provider.Service/GetCapacity UNAUTHENTICATED',
        `${HEALTH_SERVICE}/Check UNAUTHENTICATED`,
      ]);
      expect(JSON.stringify(s.warnings)).not.toContain('not-the-token');
    } finally {
      s.server.forceShutdown();
    }
  });

  it('leaves services named open alone', async () => {
    const s = await serve([HEALTH_SERVICE]);
    try {
      expect(await checkHealth(s.health())).toBe('OK');
      expect(await unary(s.client(), 'GetCapacity')).toMatch(/^UNAUTHENTICATED/);
    } finally {
      s.server.forceShutdown();
    }
  });
});
