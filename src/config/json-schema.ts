/**
 * The config file's JSON Schema, generated from the zod schema, so editors
 * complete and check config.yaml (it names ./config.schema.json in a
 * yaml-language-server comment). `npm run gen:config-schema` writes it; a unit
 * test fails when the committed file is out of date.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  // Input side: what may be written in the file (quantities as numbers or strings, defaults optional).
  const generated = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: 'k8s-provider configuration',
    description:
      'The config file of the k8s-provider daemon (config.yaml). Every key is described in the README; each can also be set with an environment variable, K8S_PROVIDER_ and the key path in upper case joined by "_".',
    ...rest,
  };
}
