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

/** Describes provider.Service, k8sprovider.v1.Instances (with resource/resource.proto) and grpc.health.v1. */
export function addReflection(server: grpc.Server): void {
  const healthRoot = dirname(dirname(dirname(healthProtoPath)));
  const all = [
    ...fileDescriptorProtos(protoDir(), 'provider/provider.proto'),
    ...fileDescriptorProtos(protoDir(), 'k8sprovider/v1/instances.proto'),
    ...fileDescriptorProtos(healthRoot, 'health/v1/health.proto'),
  ];
  // Files imported by both services (resource/resource.proto) are described once.
  const seen = new Set<string>();
  const files = all.filter((f) => {
    const key = Buffer.from(f).toString('base64');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  // ReflectionService reads only the fileDescriptorProtos of each entry, so
  // one entry carrying our protoc-shaped descriptors replaces proto-loader's.
  const definition = { descriptors: { fileDescriptorProtos: files } } as unknown as protoLoader.PackageDefinition;
  new ReflectionService(definition).addToServer(server);
}
