#!/usr/bin/env node
// Writes config.schema.json, the JSON Schema of config.yaml, from the zod
// schema (src/config/json-schema.ts) as built in dist/. Run after a change to
// src/config/schema.ts; src/config/json-schema.test.ts fails until then.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from '../dist/src/config/json-schema.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
writeFileSync(join(root, 'config.schema.json'), `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
