import { describe, expect, it } from 'vitest';
import { ResponseContext, type ConfigurationOptions, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { continueInEnvelope, listAll } from './slim-list.js';

type Item = KubernetesObject & { big?: string };

/** A list page as the API server writes it: envelope first, then the items. */
const pageText = (names: string[], cont: string | undefined, resourceVersion = '42'): string =>
  JSON.stringify({
    kind: 'PodList',
    apiVersion: 'v1',
    metadata: { resourceVersion, ...(cont ? { continue: cont, remainingItemCount: 3 } : {}) },
    items: names.map((name) => ({ metadata: { name, managedFields: [{ manager: 'x' }] }, big: 'x'.repeat(100) })),
  });

/**
 * Serves pages through the list's own response middleware, as client-node's
 * generated client does: the middleware's answer is the envelope the caller
 * deserializes. `events` records when each page is asked for and when its
 * items reach the list.
 */
function server(pages: Record<string, { names: string[]; next?: string }>, text = pageText) {
  const events: string[] = [];
  const listPage = async (cont: string | undefined, options: ConfigurationOptions): Promise<KubernetesListObject<Item>> => {
    const key = cont ?? 'first';
    events.push(`ask ${key}`);
    const page = pages[key];
    if (!page) throw new Error(`410: continue token ${key} expired`);
    await new Promise((r) => setTimeout(r, 5));
    const body = text(page.names, page.next);
    const ctx = new ResponseContext(200, {}, { text: async () => body, binary: async () => Buffer.from(body) });
    let out = ctx;
    for (const m of options.middleware ?? []) out = await m.post(out).toPromise();
    events.push(`read ${key}`);
    // As client-node deserializes the envelope: V1ListMeta names the token `_continue`.
    const raw = JSON.parse(await out.body.text()) as { metadata: { resourceVersion: string; continue?: string }; items: Item[] };
    return { ...raw, metadata: { resourceVersion: raw.metadata.resourceVersion, _continue: raw.metadata.continue } };
  };
  return { events, listPage };
}

const slim = (item: Item): Item => ({ metadata: { name: item.metadata?.name } });

describe('continueInEnvelope', () => {
  it("reads the token from the envelope of the API server's JSON, before the items", () => {
    expect(continueInEnvelope(pageText(['a'], 'tok=='))).toBe('tok==');
    expect(continueInEnvelope(pageText(['a'], undefined))).toBeUndefined();
  });

  it('gives up (undefined) on anything written another way, so the parsed token is used', () => {
    expect(continueInEnvelope(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', metadata: { continue: 'x' }, items: [] }))).toBeUndefined();
    expect(continueInEnvelope(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { continue: 'x' }, items: [] }, null, 2))).toBeUndefined();
    expect(continueInEnvelope('{"kind":"PodList","apiVersion":"v1","metadata":{"continue":')).toBeUndefined();
    expect(continueInEnvelope('')).toBeUndefined();
  });
});

describe('listAll', () => {
  const pages = {
    first: { names: ['a', 'b'], next: 't1' },
    t1: { names: ['c', 'd'], next: 't2' },
    t2: { names: ['e'] },
  };

  it('collects every page, slimmed, under the first page resourceVersion', async () => {
    const { listPage } = server(pages);
    const list = await listAll(listPage, slim);
    expect(list.items.map((i) => i.metadata?.name).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(list.items.every((i) => i.big === undefined && i.metadata?.managedFields === undefined)).toBe(true);
    expect(list.metadata?.resourceVersion).toBe('42');
  });

  it('asks for each next page before the page that names it is parsed, and each page once', async () => {
    const { events, listPage } = server(pages);
    await listAll(listPage, slim);
    expect(events.filter((e) => e.startsWith('ask'))).toEqual(['ask first', 'ask t1', 'ask t2']);
    // t1 is asked for while the first page is still being read.
    expect(events.indexOf('ask t1')).toBeLessThan(events.indexOf('read first'));
    expect(events.indexOf('ask t2')).toBeLessThan(events.indexOf('read t1'));
  });

  it('falls back to asking after the parse when the envelope cannot be read early', async () => {
    const pretty = (names: string[], cont: string | undefined): string => JSON.stringify(JSON.parse(pageText(names, cont)), null, 1);
    const { events, listPage } = server(pages, pretty);
    const list = await listAll(listPage, slim);
    expect(list.items).toHaveLength(5);
    expect(events).toEqual(['ask first', 'read first', 'ask t1', 'read t1', 'ask t2', 'read t2']);
  });

  it('fails as a whole when a page fails (the informer lists again), with no unhandled rejection', async () => {
    const { listPage } = server({ first: { names: ['a'], next: 'gone' } });
    await expect(listAll(listPage, slim)).rejects.toThrow('410: continue token gone expired');
  });
});
