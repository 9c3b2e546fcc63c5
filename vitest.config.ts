import { defineConfig } from 'vitest/config';

// Two projects: unit tests of pure code beside it in src/, and integration
// tests in test/ that run against a real Kubernetes control plane (started by
// the global setup when it is not already up). Integration files share one
// cluster and two cores, so they run one at a time, each in its own namespace.
export default defineConfig({
  test: {
    // The fault figures table first, so the plain "N passed" line stays the last one.
    reporters: ['default', './test/reporters/fault-figures.ts', './test/reporters/summary.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/cluster/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
