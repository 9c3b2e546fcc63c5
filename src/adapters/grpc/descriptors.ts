/**
 * FileDescriptorProtos for server reflection, built as protoc would.
 *
 * proto-loader's own descriptors (protobufjs' toDescriptor) merge files by
 * package, drop `import`s, name map entries "EnvVars" instead of
 * "EnvVarsEntry", camel-case field names and lose proto3 `optional`; strict
 * clients such as grpcurl (Go's protodesc) then refuse every file that uses
 * a type from another one. This walks the parsed .proto files instead and
 * keeps one descriptor per source file, named as it is imported, with its
 * dependencies, fully-qualified type names and the original field names.
 */
import { relative } from 'node:path';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

// google.protobuf.FieldDescriptorProto.Type
const SCALAR: Readonly<Record<string, number>> = {
  double: 1,
  float: 2,
  int64: 3,
  uint64: 4,
  int32: 5,
  fixed64: 6,
  fixed32: 7,
  bool: 8,
  string: 9,
  bytes: 12,
  uint32: 13,
  sfixed32: 15,
  sfixed64: 16,
  sint32: 17,
  sint64: 18,
};
const TYPE_MESSAGE = 11;
const TYPE_ENUM = 14;
const LABEL_OPTIONAL = 1;
const LABEL_REPEATED = 3;

/** protoc's ToJsonName: drop underscores, upper-case the letter after each. */
export function jsonName(name: string): string {
  return name.replace(/_+([a-zA-Z0-9])?/g, (_, c: string | undefined) => (c ?? '').toUpperCase());
}

/** protoc's map entry name: the field name in CamelCase plus "Entry". */
export function mapEntryName(field: string): string {
  const camel = jsonName(field);
  return `${camel.charAt(0).toUpperCase()}${camel.slice(1)}Entry`;
}

/** ".pkg.Msg" as protoc writes type references (protobufjs fullName already has the dot). */
const ref = (t: protobuf.ReflectionObject): string => t.fullName;

/** A method's message type, which protobufjs fills in when the root is resolved. */
function resolved(m: protobuf.Method, type: protobuf.Type | null, name: string): protobuf.Type {
  if (!type) throw new Error(`${m.fullName}: message type ${name} is not resolved (resolveAll the root first)`);
  return type;
}

interface FileParts {
  readonly name: string;
  readonly pkg: string;
  readonly messages: protobuf.Type[];
  readonly enums: protobuf.Enum[];
  readonly services: protobuf.Service[];
  readonly deps: Set<string>;
}

type Json = Record<string, unknown>;

function scalarOrRef(typeName: string, resolved: protobuf.ReflectionObject | null, fileOf: (o: protobuf.ReflectionObject) => string, file: FileParts): Json {
  if (resolved instanceof protobuf.Type || resolved instanceof protobuf.Enum) {
    const dep = fileOf(resolved);
    if (dep !== file.name) file.deps.add(dep);
    return { type: resolved instanceof protobuf.Enum ? TYPE_ENUM : TYPE_MESSAGE, typeName: ref(resolved) };
  }
  const scalar = SCALAR[typeName];
  if (scalar === undefined) throw new Error(`unsupported field type ${typeName}`);
  return { type: scalar };
}

function enumDescriptor(e: protobuf.Enum): Json {
  return { name: e.name, value: Object.entries(e.values).map(([name, number]) => ({ name, number })) };
}

function messageDescriptor(t: protobuf.Type, file: FileParts, fileOf: (o: protobuf.ReflectionObject) => string): Json {
  const nestedType: Json[] = [];
  // protoc puts the synthetic oneofs of proto3 `optional` fields after every real oneof.
  const isSynthetic = (o: protobuf.OneOf): boolean => o.fieldsArray.length === 1 && o.fieldsArray[0]?.options?.proto3_optional === true;
  const oneofs = [...t.oneofsArray.filter((o) => !isSynthetic(o)), ...t.oneofsArray.filter(isSynthetic)];
  const field = t.fieldsArray.map((f): Json => {
    const base: Json = { name: f.name, number: f.id, jsonName: jsonName(f.name) };
    if (f instanceof protobuf.MapField) {
      const entry = mapEntryName(f.name);
      nestedType.push({
        name: entry,
        field: [
          { name: 'key', number: 1, label: LABEL_OPTIONAL, jsonName: 'key', type: SCALAR[f.keyType] },
          { name: 'value', number: 2, label: LABEL_OPTIONAL, jsonName: 'value', ...scalarOrRef(f.type, f.resolvedType, fileOf, file) },
        ],
        options: { mapEntry: true },
      });
      return { ...base, label: LABEL_REPEATED, type: TYPE_MESSAGE, typeName: `${ref(t)}.${entry}` };
    }
    const out: Json = { ...base, label: f.repeated ? LABEL_REPEATED : LABEL_OPTIONAL, ...scalarOrRef(f.type, f.resolvedType, fileOf, file) };
    if (f.partOf) out.oneofIndex = oneofs.indexOf(f.partOf);
    if (f.options?.proto3_optional === true) out.proto3Optional = true;
    return out;
  });
  for (const nested of t.nestedArray) {
    if (nested instanceof protobuf.Type) nestedType.push(messageDescriptor(nested, file, fileOf));
  }
  return {
    name: t.name,
    field,
    nestedType,
    enumType: t.nestedArray.filter((n): n is protobuf.Enum => n instanceof protobuf.Enum).map(enumDescriptor),
    oneofDecl: oneofs.map((o) => ({ name: o.name })),
  };
}

function serviceDescriptor(s: protobuf.Service): Json {
  return {
    name: s.name,
    method: s.methodsArray.map((m) => ({
      name: m.name,
      inputType: ref(resolved(m, m.resolvedRequestType, m.requestType)),
      outputType: ref(resolved(m, m.resolvedResponseType, m.responseType)),
      // protoc leaves unary flags unset rather than false.
      ...(m.requestStream ? { clientStreaming: true } : {}),
      ...(m.responseStream ? { serverStreaming: true } : {}),
    })),
  };
}

/**
 * Parses `entry` (one file or several, and their imports) from `includeDir` and returns one encoded
 * FileDescriptorProto per .proto file, each named by its path relative to
 * includeDir, as `import` statements name them.
 */
export function fileDescriptorProtos(includeDir: string, entry: string | readonly string[]): Uint8Array[] {
  const root = new protobuf.Root();
  // Imports are relative to the include root, as protoc -I would take them.
  root.resolvePath = (_origin, target) => protobuf.util.path.resolve(`${includeDir}/`, target);
  root.loadSync(typeof entry === 'string' ? entry : [...entry], { keepCase: true });
  root.resolveAll();

  const files = new Map<string, FileParts>();
  const fileOf = (o: protobuf.ReflectionObject): string => relative(includeDir, o.filename ?? '');
  const partsFor = (o: protobuf.ReflectionObject): FileParts => {
    const name = fileOf(o);
    let parts = files.get(name);
    if (!parts) {
      parts = { name, pkg: (o.parent?.fullName ?? '').replace(/^\./, ''), messages: [], enums: [], services: [], deps: new Set() };
      files.set(name, parts);
    }
    return parts;
  };
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) partsFor(nested).messages.push(nested);
      else if (nested instanceof protobuf.Enum) partsFor(nested).enums.push(nested);
      else if (nested instanceof protobuf.Service) partsFor(nested).services.push(nested);
      else if (nested instanceof protobuf.Namespace) walk(nested);
    }
  };
  walk(root);

  // Built first: building is what finds each file's dependencies.
  const built = new Map<string, { parts: FileParts; json: Json }>(
    [...files].map(([name, parts]) => {
      const json: Json = {
        name: parts.name,
        package: parts.pkg,
        messageType: parts.messages.map((t) => messageDescriptor(t, parts, fileOf)),
        enumType: parts.enums.map(enumDescriptor),
        service: parts.services.map(serviceDescriptor),
        syntax: 'proto3',
      };
      return [name, { parts, json: { ...json, dependency: [...parts.deps].sort() } }];
    }),
  );

  // Dependencies before the files that import them, as in protoc's FileDescriptorSet.
  const ordered: { parts: FileParts; json: Json }[] = [];
  const visit = (file: { parts: FileParts; json: Json }, path: readonly string[]): void => {
    if (ordered.includes(file)) return;
    const name = file.parts.name;
    if (path.includes(name)) throw new Error(`import cycle: ${[...path, name].join(' -> ')}`);
    for (const dep of file.parts.deps) {
      const imported = built.get(dep);
      if (!imported) throw new Error(`${name} imports ${dep}, which is not among the loaded files`);
      visit(imported, [...path, name]);
    }
    ordered.push(file);
  };
  for (const file of built.values()) visit(file, []);
  return ordered.map((file) => descriptor.FileDescriptorProto.encode(descriptor.FileDescriptorProto.fromObject(file.json)).finish());
}
