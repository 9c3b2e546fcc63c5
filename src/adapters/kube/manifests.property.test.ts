/**
 * Property test: every spec validateDeploy lets through (from hostile wire
 * requests) becomes objects the API server accepts by name and label, and
 * every one of them carries the workload security settings.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deployRequest } from '../../../test/helpers/hostile.js';
import { validateDeploy, type DeploySpec } from '../../core/deploy-spec.js';
import { deployFromWire } from '../grpc/codec.js';
import { PROVIDER_PROTO, serviceDefinition } from '../grpc/proto.js';
import type { DeployRequest__Output } from '../grpc/generated/provider/DeployRequest.js';
import { jobManifest, podManifest, RESTRICTED } from './manifests.js';

const defaults = { jobTimeoutSeconds: 3600, jobCleanupPolicy: 'OnSuccess' as const };
const deploy = serviceDefinition(PROVIDER_PROTO, 'provider.Service').Deploy!;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function specOf(req: unknown): DeploySpec | undefined {
  try {
    return validateDeploy(deployFromWire(deploy.requestDeserialize(deploy.requestSerialize(req)) as DeployRequest__Output), defaults);
  } catch {
    return undefined; // the refusals are the codec property test's subject
  }
}

describe('manifests of hostile but valid requests', () => {
  it('have valid names and labels, the exact ids in annotations, and the security settings (1500 runs)', () => {
    let built = 0;
    fc.assert(
      fc.property(deployRequest('cp', { maxEnvKeys: 5 }), (req) => {
        const spec = specOf(req);
        if (!spec) return;
        built++;
        const ctx = { namespace: 'w', selectorLabels: { team: 'a' }, security: RESTRICTED };
        const objects = [podManifest(spec, ctx), jobManifest(spec, ctx)];
        for (const o of objects) {
          const meta = o.metadata!;
          expect(meta.name!.length).toBeLessThanOrEqual(63);
          expect(meta.name).toMatch(DNS_LABEL);
          for (const v of Object.values(meta.labels!)) expect(v.length <= 63 && LABEL_VALUE.test(v), v).toBe(true);
          expect(meta.annotations!['iarnet.instance_id']).toBe(spec.instanceId);
        }
        // The same request always lands on the same name: a retry finds its workload.
        expect(podManifest(specOf(req)!, ctx).metadata!.name).toBe(objects[0]!.metadata!.name);
        const pod = podManifest(spec, ctx).spec!;
        const job = jobManifest(spec, ctx).spec!.template.spec!;
        for (const s of [pod, job]) {
          expect(s.automountServiceAccountToken).toBe(false);
          expect(s.enableServiceLinks).toBe(false);
          expect(s.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
          expect(s.containers[0]!.securityContext).toEqual({ allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
        }
      }),
      { numRuns: 1500 },
    );
    expect(built).toBeGreaterThan(50);
  }, 120_000);
});
