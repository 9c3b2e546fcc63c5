/**
 * Every method of every service declared under proto/, found by walking the
 * files, and a way to call one with raw bytes: tests that must hold for all
 * RPCs then cover a service added later without being edited.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS, protoDir } from '../../src/adapters/grpc/proto.js';

export interface RawMethod {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

export function everyMethod(): RawMethod[] {
  const root = protoDir();
  const files = readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.proto'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
  const definition = protoLoader.loadSync(files, { ...LOADER_OPTIONS, includeDirs: [root] });
  return Object.values(definition)
    .filter((d): d is protoLoader.ServiceDefinition => !('format' in d))
    .flatMap((service) => Object.values(service).map((m) => ({ path: m.path, responseStream: m.responseStream, requestStream: m.requestStream })));
}

/** Calls a method with `body` as the request's bytes (empty: every field at its default); resolves with the status code's name. */
export function rawCall(client: grpc.Client, m: RawMethod, body: Buffer = Buffer.alloc(0)): Promise<string> {
  const id = (b: Buffer): Buffer => b;
  return new Promise((resolve) => {
    if (m.requestStream) {
      const call = m.responseStream
        ? client.makeBidiStreamRequest(m.path, id, id)
        : client.makeClientStreamRequest(m.path, id, id, (err) => resolve(err ? grpc.status[err.code] : 'OK'));
      call.on('status', (s: grpc.StatusObject) => resolve(grpc.status[s.code]));
      call.on('data', () => undefined);
      call.on('error', () => undefined);
      call.write(body);
      call.end();
    } else if (m.responseStream) {
      const call = client.makeServerStreamRequest(m.path, id, id, body, { deadline: Date.now() + 10_000 });
      call.on('data', () => undefined);
      call.on('error', () => undefined);
      call.on('status', (s) => resolve(grpc.status[s.code]));
    } else {
      client.makeUnaryRequest(m.path, id, id, body, (err) => resolve(err ? grpc.status[err.code] : 'OK'));
    }
  });
}
