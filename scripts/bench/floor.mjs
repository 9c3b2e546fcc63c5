/**
 * The memory floor: a Node process that loads the libraries the daemon loads
 * and does nothing else. The bench preloads probe.mjs and reads its memory.
 */
await import('@kubernetes/client-node');
await import('@grpc/grpc-js');
await import('@grpc/proto-loader');
await import('@grpc/reflection');
await import('grpc-health-check');
await import('pino');
await import('prom-client');
await import('protobufjs');
await import('yaml');
await import('zod');
process.stderr.write('ready\n');
setInterval(() => {}, 1 << 30);
