/**
 * The informers' list and watch, keeping only the slim copy of each object
 * (slim.ts), so the full objects never reach client-node's model classes or
 * the cache. Both still go through client-node: the list is the generated
 * client's call (auth, TLS, the request metrics unchanged) with a response
 * middleware that takes the items out, and the watch is client-node's Watch.
 */
import {
  Observable,
  ResponseContext,
  Watch,
  type ConfigurationOptions,
  type KubernetesListObject,
  type KubernetesObject,
  type ObservableMiddleware,
} from '@kubernetes/client-node';

/**
 * Items per list request. Paged like client-go's reflector: a page's JSON
 * is parsed and slimmed before the next one arrives, so the full objects of
 * 10,000 pods are never in memory at once, and no single response grows
 * with the cluster.
 */
export const LIST_PAGE_SIZE = 500;

/**
 * A middleware that takes the items out of a successful list response: they
 * go, slimmed, to `sink`, and client-node deserializes only the list's
 * envelope (its metadata). So the items are never turned into model classes:
 * the cache holds them as the JSON the API sent, the same form the watch
 * delivers its objects in. Errors pass untouched.
 */
export function itemsTo<T>(slim: (item: T) => T, sink: (items: T[]) => void): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (ctx) => new Observable(Promise.resolve(ctx)),
    post: (ctx) => new Observable(takeItems(ctx, slim, sink)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

async function takeItems<T>(ctx: ResponseContext, slim: (item: T) => T, sink: (items: T[]) => void): Promise<ResponseContext> {
  if (ctx.httpStatusCode !== 200) return ctx;
  const list = JSON.parse(await ctx.body.text()) as { items?: T[] | null };
  sink(Array.isArray(list.items) ? list.items.map(slim) : []);
  const envelope = JSON.stringify({ ...list, items: [] });
  return new ResponseContext(ctx.httpStatusCode, ctx.headers, { text: async () => envelope, binary: async () => Buffer.from(envelope) });
}

/** One page of a list: `cont` is the previous page's continue token (undefined for the first). */
export type ListPage<T extends KubernetesObject> = (cont: string | undefined, options: ConfigurationOptions) => Promise<KubernetesListObject<T>>;

/**
 * Every page of a list, slimmed, as one list. All pages belong to the first
 * page's resourceVersion (one consistent snapshot), which the watch resumes
 * from. A continue token that expired mid-way fails the list (410); the
 * informer then lists again from the start.
 */
export async function listAll<T extends KubernetesObject>(listPage: ListPage<T>, slim: (item: T) => T): Promise<KubernetesListObject<T>> {
  const items: T[] = [];
  const options = itemsTo(slim, (page) => {
    for (const item of page) items.push(item);
  });
  const first = await listPage(undefined, options);
  for (let cont = first.metadata?._continue; cont; ) cont = (await listPage(cont, options)).metadata?._continue;
  return { apiVersion: first.apiVersion, kind: first.kind, metadata: { resourceVersion: first.metadata?.resourceVersion }, items };
}

const OBJECT_EVENTS: ReadonlySet<string> = new Set(['ADDED', 'MODIFIED', 'DELETED']);

/** client-node's Watch, handing on the slim copy of every object event (bookmarks and errors as they are). */
export class SlimWatch<T> extends Watch {
  constructor(
    config: ConstructorParameters<typeof Watch>[0],
    private readonly slim: (item: T) => T,
  ) {
    super(config);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(path, queryParams, (phase, obj, watchObj) => callback(phase, OBJECT_EVENTS.has(phase) ? this.slim(obj as T) : obj, watchObj), done);
  }
}
