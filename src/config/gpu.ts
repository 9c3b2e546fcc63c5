/** gpu.* from the config, as the core's GPU placement. */
import type { Toleration } from '../core/deploy-spec.js';
import type { GpuPlacement } from '../core/scheduling.js';
import type { Config } from './schema.js';

export function gpuPlacementOf(gpu: Config['gpu']): GpuPlacement {
  return {
    nodeSelector: gpu.node_selector,
    tolerations: gpu.tolerations.map(
      (t): Toleration => ({
        key: t.key ?? '',
        operator: t.operator,
        value: t.value,
        effect: t.effect,
        ...(t.toleration_seconds !== undefined ? { tolerationSeconds: t.toleration_seconds } : {}),
      }),
    ),
  };
}
