#!/usr/bin/env node
/**
 * Generates TypeScript types for every .proto under proto/, so a new service
 * needs no edit here: the directory is the list.
 */
import { readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'proto');
const out = join(root, 'src/adapters/grpc/generated');

const files = readdirSync(protoDir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.proto'))
  .map((f) => f.split('\\').join('/'))
  .sort();
if (files.length === 0) throw new Error(`no .proto files under ${protoDir}`);

rmSync(out, { recursive: true, force: true });
// These flags must match LOADER_OPTIONS in src/adapters/grpc/proto.ts, or the generated types would lie.
const args = [
  '--longs=String',
  '--enums=String',
  '--defaults',
  '--oneofs',
  '--grpcLib=@grpc/grpc-js',
  '--importFileExtension=.js',
  '-I',
  'proto',
  '-O',
  out,
  ...files,
];
const bin = join(root, 'node_modules/.bin/proto-loader-gen-types');
const run = spawnSync(bin, args, { cwd: root, stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);
