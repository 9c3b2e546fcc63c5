/** Label and annotation keys the daemon puts on what it creates (operators select on the labels). */
export const LABEL_MANAGED = 'iarnet.managed';
export const LABEL_PROVIDER_ID = 'iarnet.provider_id';
export const LABEL_INSTANCE_ID = 'iarnet.instance_id';

export const ANNOTATION_INSTANCE_ID = 'iarnet.instance_id';
export const ANNOTATION_PROVIDER_ID = 'iarnet.provider_id';
export const ANNOTATION_SPEC_HASH = 'iarnet.spec_hash';
export const ANNOTATION_CLEANUP_POLICY = 'iarnet.cleanup_policy';
/** The instance's volumes as validated (JSON), so its status can show them after a restart. */
export const ANNOTATION_VOLUMES = 'iarnet.volumes';
/** On a claim: the instance volume it backs. */
export const LABEL_VOLUME = 'iarnet.volume';
/** On a retained claim: it outlives its instance (no owner, left alone by Undeploy). */
export const LABEL_RETAIN = 'iarnet.retain';

export const GPU_RESOURCE = 'nvidia.com/gpu';

/** The selector every watch uses: our label plus the configured extra terms. */
export function managedSelector(extra: Readonly<Record<string, string>>): string {
  return [`${LABEL_MANAGED}=true`, ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)].join(',');
}

/** Parses the config's label_selector ("a=b,c=d"); the schema has already checked its shape. */
export function selectorLabels(selector: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const term of selector
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)) {
    const eq = term.indexOf('=');
    out[term.slice(0, eq)] = term.slice(eq + 1);
  }
  return out;
}
