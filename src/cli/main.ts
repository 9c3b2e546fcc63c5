#!/usr/bin/env node
/** Entry point of k8s-provider-cli; everything else is in run.ts. */
import { run } from './run.js';

// Ctrl-C ends a `watch` or `logs -f` cleanly (the call is cancelled); a second one exits at once.
const interrupted = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted.abort();
    process.once(sig, () => process.exit(130));
  });
}

const code = await run(process.argv.slice(2), {
  signal: interrupted.signal,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  now: () => Date.now(),
});
process.exitCode = code;
