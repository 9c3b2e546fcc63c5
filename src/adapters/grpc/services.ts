/**
 * A gRPC service as data: where it is declared, its fully-qualified name and
 * its handlers. The server registers a list of these, and reflection and
 * health are derived from the same list, so adding a service is one file
 * (its description) plus one line in the composition root.
 */
import type * as grpc from '@grpc/grpc-js';
import { serviceDefinition } from './proto.js';
import { MalformedRequest } from './rpc.js';

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
    server.addService(tolerant(serviceDefinition(service.protoFile, service.name)), service.handlers);
  }
}

/** Bytes that are not the request message decode to a MalformedRequest instead of throwing (see rpc.ts). */
export function tolerant(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer): unknown => {
          try {
            return method.requestDeserialize(bytes);
          } catch (err) {
            // protobufjs says where decoding failed ("index out of range: 12 + 10 > 15"); nothing of the content.
            return new MalformedRequest((err as Error).message.slice(0, 200));
          }
        },
      },
    ]),
  );
}
