/**
 * Refusals by the API server's admission plugins that are not about
 * permissions although they come as 403 Forbidden: a ResourceQuota that is
 * full, one whose usage is not computed yet, a PriorityClass that does not
 * exist. Each has its own status code for the caller.
 */
import { type DomainError, failedPrecondition, resourceExhausted, unavailable } from '../core/errors.js';

export function admissionRefusal(message: string): DomainError | undefined {
  if (message.includes('exceeded quota')) {
    return resourceExhausted(`the namespace's ResourceQuota refuses it: ${message}`);
  }
  if (message.includes('status unknown for quota')) {
    // A quota just created or changed: its controller counts the namespace within moments.
    return unavailable(`the namespace's ResourceQuota is being counted; retry shortly: ${message}`);
  }
  if (/no PriorityClass with name \S+ was found/.test(message)) {
    return failedPrecondition(`workload.priority_class_name names a PriorityClass that does not exist: ${message}`);
  }
  if (message.includes('must specify') && message.includes('quota')) {
    return failedPrecondition(`the namespace's ResourceQuota needs requests the pod lacks: ${message}`);
  }
  return undefined;
}
