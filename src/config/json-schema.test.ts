import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from './json-schema.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('config.schema.json', () => {
  it('is the JSON Schema of the current zod schema (npm run gen:config-schema rewrites it)', () => {
    const committed = JSON.parse(readFileSync(join(root, 'config.schema.json'), 'utf8')) as unknown;
    expect(committed, 'config.schema.json is out of date: run npm run gen:config-schema').toEqual(configJsonSchema());
  });

  it('is named by config.yaml for editors (yaml-language-server)', () => {
    expect(readFileSync(join(root, 'config.yaml'), 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=./config.schema.json');
  });

  it('refuses unknown keys and describes the quantities as numbers or strings', () => {
    const schema = configJsonSchema() as { additionalProperties: boolean; properties: Record<string, { properties: Record<string, { type: unknown }> }> };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.resource!.properties.cpu!.type).toEqual(['number', 'string']);
  });
});
