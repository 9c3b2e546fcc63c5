/**
 * gRPC server reflection (v1 and v1alpha), so grpcurl and similar tools can
 * list, describe and call every service without a copy of the .proto files.
 */
import { dirname } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { fileDescriptorProtos } from './descriptors.js';
import { protoDir } from './proto.js';
import type { GrpcService } from './services.js';

/** Describes every registered service (with the files they import) and grpc.health.v1. */
export function addReflection(server: grpc.Server, services: readonly GrpcService[]): void {
  const healthRoot = dirname(dirname(dirname(healthProtoPath)));
  const protoFiles = [...new Set(services.map((s) => s.protoFile))];
  const files = [...fileDescriptorProtos(protoDir(), protoFiles), ...fileDescriptorProtos(healthRoot, 'health/v1/health.proto')];
  // ReflectionService reads only the fileDescriptorProtos of each entry, so
  // one entry carrying our protoc-shaped descriptors replaces proto-loader's.
  const definition = { descriptors: { fileDescriptorProtos: files } } as unknown as protoLoader.PackageDefinition;
  new ReflectionService(definition).addToServer(server);
}
