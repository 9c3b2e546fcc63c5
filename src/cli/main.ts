#!/usr/bin/env node
/** Entry point of k8s-provider-cli; everything else is in run.ts. */
import { run } from './run.js';

const code = await run(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  now: () => Date.now(),
});
process.exitCode = code;
