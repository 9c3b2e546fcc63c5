/**
 * Removes finished Jobs (and, by background propagation, their pods) as
 * their cleanup policy says. It reacts to the Job watch, so Jobs that
 * finished while the daemon was down are cleaned as soon as it lists them.
 */
import type { BatchV1Api, V1Job } from '@kubernetes/client-node';
import { ErrorKind, DomainError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import { withRetry } from './retry.js';
import { ANNOTATION_CLEANUP_POLICY, ANNOTATION_INSTANCE_ID } from '../../shared/labels.js';
import { jobOutcome } from './observe.js';
import type { Informer } from './informer.js';

/** Pure: should this finished Job go now? */
export function shouldCleanUp(job: V1Job): boolean {
  const outcome = jobOutcome(job);
  if (!outcome || job.metadata?.deletionTimestamp) return false;
  const policy = job.metadata?.annotations?.[ANNOTATION_CLEANUP_POLICY];
  return policy === 'Always' || (policy === 'OnSuccess' && outcome === 'Complete') || (policy === 'OnFailure' && outcome === 'Failed');
}

export class JobJanitor {
  private readonly deleting = new Set<string>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly jobs: Informer<V1Job>,
    private readonly batch: BatchV1Api,
    private readonly namespace: string,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.unsubscribe = this.jobs.onChange(() => this.sweep());
    this.sweep();
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private sweep(): void {
    for (const job of this.jobs.items()) {
      const name = job.metadata?.name;
      if (!name || this.deleting.has(name) || !shouldCleanUp(job)) continue;
      this.deleting.add(name);
      void this.remove(name, job).finally(() => this.deleting.delete(name));
    }
  }

  private async remove(name: string, job: V1Job): Promise<void> {
    const namespace = this.namespace;
    try {
      await withRetry({ verb: 'delete', resource: 'jobs', namespace }, () =>
        this.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }),
      );
      this.log.info(
        { job: name, instanceId: job.metadata?.annotations?.[ANNOTATION_INSTANCE_ID], outcome: jobOutcome(job), policy: job.metadata?.annotations?.[ANNOTATION_CLEANUP_POLICY] },
        'finished job cleaned up',
      );
    } catch (err) {
      // Already gone is what we wanted.
      if (err instanceof DomainError && err.kind === ErrorKind.NotFound) return;
      this.log.warn({ job: name, err: (err as Error).message }, 'could not clean up finished job; will retry on the next change');
    }
  }
}
