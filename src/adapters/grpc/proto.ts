/** Loads the contract's proto files with options that keep int64 exact. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/provider.js';

/** Must match the flags of `npm run gen`, or the generated types would lie. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** proto/ sits at the package root, whether we run from src/ (tests) or dist/src/ (production). */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'provider', 'provider.proto'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('proto/provider/provider.proto not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export interface LoadedProto {
  readonly packageDefinition: protoLoader.PackageDefinition;
  readonly grpcObject: ProtoGrpcType;
}

export function loadProto(): LoadedProto {
  const packageDefinition = protoLoader.loadSync('provider/provider.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  return { packageDefinition, grpcObject: grpc.loadPackageDefinition(packageDefinition) as unknown as ProtoGrpcType };
}
