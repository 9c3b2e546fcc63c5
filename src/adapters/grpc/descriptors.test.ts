import { describe, expect, it } from 'vitest';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { fileDescriptorProtos, jsonName, mapEntryName } from './descriptors.js';
import { protoDir } from './proto.js';

type Field = { name: string; number: number; label: number; type: number; typeName?: string; jsonName: string; oneofIndex?: number; proto3Optional?: boolean };
type Message = { name: string; field: Field[]; nestedType?: Message[]; oneofDecl?: Array<{ name: string }>; options?: { mapEntry?: boolean } };
type File = {
  name: string;
  package: string;
  dependency?: string[];
  messageType: Message[];
  service?: Array<{ name: string; method: Array<{ name: string; inputType: string; outputType: string }> }>;
  syntax: string;
};

const decoded = (): File[] =>
  fileDescriptorProtos(protoDir(), 'provider/provider.proto').map(
    (b) => descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(b), { defaults: false }) as File,
  );

const message = (f: File, name: string): Message => f.messageType.find((m) => m.name === name)!;

describe('fileDescriptorProtos, shaped as protoc writes them', () => {
  it('keeps one file per .proto, named as imported, dependencies first and declared', () => {
    const files = decoded();
    expect(files.map((f) => [f.name, f.package, f.dependency ?? [], f.syntax])).toEqual([
      ['resource/resource.proto', 'resource', [], 'proto3'],
      ['provider/provider.proto', 'provider', ['resource/resource.proto'], 'proto3'],
    ]);
  });

  it('uses fully-qualified type names and the original field names', () => {
    const provider = decoded()[1]!;
    // Field 1 is the original contract; extensions follow at 16 and above.
    expect(message(provider, 'GetCapacityResponse').field?.[0]).toEqual({
      name: 'capacity',
      number: 1,
      label: 1,
      type: 11,
      typeName: '.resource.Capacity',
      jsonName: 'capacity',
    });
    expect(message(provider, 'GetCapacityResponse').field?.find((f) => f.number === 16)).toEqual({
      name: 'storage',
      number: 16,
      label: 1,
      type: 11,
      typeName: '.provider.StorageCapacity',
      jsonName: 'storage',
    });
    expect(message(provider, 'ConnectRequest').field).toEqual([{ name: 'provider_id', number: 1, label: 1, type: 9, jsonName: 'providerId' }]);
    expect(provider.service![0]!.method.find((m) => m.name === 'Deploy')).toEqual({
      name: 'Deploy',
      inputType: '.provider.DeployRequest',
      outputType: '.provider.DeployResponse',
    });
  });

  it('writes maps as repeated <Field>Entry messages with the map_entry option', () => {
    const deploy = message(decoded()[1]!, 'DeployRequest');
    expect(deploy.field.find((f) => f.name === 'env_vars')).toEqual({
      name: 'env_vars',
      number: 4,
      label: 3,
      type: 11,
      typeName: '.provider.DeployRequest.EnvVarsEntry',
      jsonName: 'envVars',
    });
    expect(deploy.nestedType).toEqual([
      {
        name: 'EnvVarsEntry',
        field: [
          { name: 'key', number: 1, label: 1, type: 9, jsonName: 'key' },
          { name: 'value', number: 2, label: 1, type: 9, jsonName: 'value' },
        ],
        options: { mapEntry: true },
      },
    ]);
  });

  it('keeps proto3 optional fields with their synthetic oneofs', () => {
    const workload = message(decoded()[1]!, 'Workload');
    expect(workload.oneofDecl).toEqual([{ name: '_timeout_seconds' }, { name: '_backoff_limit' }, { name: '_replicas' }]);
    expect(workload.field.find((f) => f.name === 'timeout_seconds')).toMatchObject({ type: 3, oneofIndex: 0, proto3Optional: true });
    expect(workload.field.find((f) => f.name === 'kind')).toMatchObject({ type: 14, typeName: '.provider.WorkloadKind' });
  });

  it('names like protoc', () => {
    expect(jsonName('toleration_seconds')).toBe('tolerationSeconds');
    expect(jsonName('sampled_at_unix_ms')).toBe('sampledAtUnixMs');
    expect(mapEntryName('node_selector')).toBe('NodeSelectorEntry');
    expect(mapEntryName('labels')).toBe('LabelsEntry');
  });
});
