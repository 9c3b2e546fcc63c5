/**
 * A gRPC service as data: where it is declared, its fully-qualified name and
 * its handlers. The server registers a list of these, and reflection and
 * health are derived from the same list, so adding a service is one file
 * (its description) plus one line in the composition root.
 */
import type * as grpc from '@grpc/grpc-js';
import { serviceDefinition } from './proto.js';

export interface GrpcService {
  /** The .proto file that declares the service, relative to proto/. */
  readonly protoFile: string;
  /** Fully-qualified, as on the wire and in reflection: "provider.Service", "k8sprovider.v1.Instances". */
  readonly name: string;
  readonly handlers: grpc.UntypedServiceImplementation;
}

export function registerServices(server: grpc.Server, services: readonly GrpcService[]): void {
  const names = new Set<string>();
  for (const service of services) {
    if (names.has(service.name)) throw new Error(`service ${service.name} registered twice`);
    names.add(service.name);
    server.addService(serviceDefinition(service.protoFile, service.name), service.handlers);
  }
}
