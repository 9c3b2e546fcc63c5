/**
 * gRPC server reflection (v1 and v1alpha), so grpcurl and similar tools can
 * list and call every service without a copy of the .proto files.
 */
import { dirname } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';

/** Describes the provider service and grpc.health.v1 (which grpc-health-check registers from its own proto). */
export function addReflection(server: grpc.Server, provider: protoLoader.PackageDefinition): void {
  // Loaded relative to its include root so the descriptor is named health/v1/health.proto, not an absolute path.
  const health = protoLoader.loadSync('health/v1/health.proto', { includeDirs: [dirname(dirname(dirname(healthProtoPath)))] });
  new ReflectionService({ ...provider, ...health }).addToServer(server);
}
