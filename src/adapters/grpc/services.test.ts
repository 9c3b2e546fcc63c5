/** Services as data: registration from the proto file and fully-qualified name. */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { PROVIDER_PROTO } from './proto.js';
import { registerServices } from './services.js';

describe('registerServices', () => {
  it('registers each service from its proto file, by fully-qualified name', () => {
    const server = new grpc.Server();
    const added: string[] = [];
    const addService = server.addService.bind(server);
    server.addService = (definition, impl) => {
      added.push(...Object.values(definition).map((m) => m.path));
      addService(definition, impl);
    };
    registerServices(server, [{ protoFile: PROVIDER_PROTO, name: 'provider.Service', handlers: {} }]);
    expect(added).toContain('/provider.Service/Deploy');
    expect(added).toContain('/provider.Service/HealthCheck');
    server.forceShutdown();
  });

  it('names the file and service when the file does not declare it, and refuses a service listed twice', () => {
    const server = new grpc.Server();
    expect(() => registerServices(server, [{ protoFile: PROVIDER_PROTO, name: 'provider.Nope', handlers: {} }])).toThrow(
      'provider/provider.proto declares no service provider.Nope',
    );
    expect(() => registerServices(server, [{ protoFile: PROVIDER_PROTO, name: 'resource.Info', handlers: {} }])).toThrow('declares no service resource.Info');
    const twice = { protoFile: PROVIDER_PROTO, name: 'provider.Service', handlers: {} };
    expect(() => registerServices(new grpc.Server(), [twice, twice])).toThrow('service provider.Service registered twice');
  });
});
