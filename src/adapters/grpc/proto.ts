/** Loads the contract's proto files with options that keep int64 exact. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/provider.js';
import type { ProtoGrpcType as InstancesProtoGrpcType } from './generated/instances.js';

/** Must match the flags in scripts/gen-proto.mjs, or the generated types would lie. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The file that describes provider.Service, relative to proto/. */
export const PROVIDER_PROTO = 'provider/provider.proto';
/** The file that describes k8sprovider.v1.Instances. */
export const INSTANCES_PROTO = 'k8sprovider/v1/instances.proto';

/** proto/ sits at the package root, whether we run from src/ (tests) or dist/src/ (production). */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return join(dir, 'proto');
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`proto/ not found next to a package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export interface LoadedProto {
  readonly packageDefinition: protoLoader.PackageDefinition;
  readonly grpcObject: ProtoGrpcType;
}

/** provider.Service's package, typed: what clients (the CLI, tests) are constructed from. */
export function loadProto(): LoadedProto {
  const packageDefinition = protoLoader.loadSync(PROVIDER_PROTO, { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  return { packageDefinition, grpcObject: grpc.loadPackageDefinition(packageDefinition) as unknown as ProtoGrpcType };
}

/** The definition of one service ("pkg.v1.Name") from the proto file (relative to proto/) that declares it. */
export function serviceDefinition(protoFile: string, serviceName: string): grpc.ServiceDefinition {
  const packageDefinition = protoLoader.loadSync(protoFile, { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  const found = packageDefinition[serviceName];
  if (!found || !isService(found)) throw new Error(`${protoFile} declares no service ${serviceName}`);
  return found;
}

function isService(d: protoLoader.AnyDefinition): d is protoLoader.ServiceDefinition {
  return !('format' in d);
}

/** k8sprovider.v1.Instances' package, typed, for its clients. */
export function loadInstancesProto(): { packageDefinition: protoLoader.PackageDefinition; grpcObject: InstancesProtoGrpcType } {
  const packageDefinition = protoLoader.loadSync(INSTANCES_PROTO, { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  return { packageDefinition, grpcObject: grpc.loadPackageDefinition(packageDefinition) as unknown as InstancesProtoGrpcType };
}
