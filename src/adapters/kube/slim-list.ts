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

/** What a list's middleware hands on: a page's slimmed items, and the next page's token as early as it can be read. */
interface PageSink<T> {
  /** The continue token of the page being read, read from the envelope before its items are parsed. */
  next(cont: string): void;
  items(items: T[]): void;
}

/**
 * A middleware that takes the items out of a successful list response: they
 * go, slimmed, to `sink`, and client-node deserializes only the list's
 * envelope (its metadata). So the items are never turned into model classes:
 * the cache holds them as the JSON the API sent, the same form the watch
 * delivers its objects in. Errors pass untouched.
 */
function itemsTo<T>(slim: (item: T) => T, sink: PageSink<T>): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (ctx) => new Observable(Promise.resolve(ctx)),
    post: (ctx) => new Observable(takeItems(ctx, slim, sink)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/**
 * The list envelope as the API server writes it (Go's field order: kind,
 * apiVersion, metadata, then items): its metadata holds no nested object,
 * so it can be read without parsing the megabytes of items behind it.
 */
const ENVELOPE = /^\{"kind":"[^"]*","apiVersion":"[^"]*","metadata":(\{[^{}]*\})/;

/** The continue token in the envelope, or undefined if the response is not written that way (then the parsed one is used). */
export function continueInEnvelope(text: string): string | undefined {
  const metadata = ENVELOPE.exec(text.slice(0, 4096))?.[1];
  if (metadata === undefined) return undefined;
  try {
    const cont = (JSON.parse(metadata) as { continue?: unknown }).continue;
    return typeof cont === 'string' && cont !== '' ? cont : undefined;
  } catch {
    return undefined;
  }
}

async function takeItems<T>(ctx: ResponseContext, slim: (item: T) => T, sink: PageSink<T>): Promise<ResponseContext> {
  if (ctx.httpStatusCode !== 200) return ctx;
  const text = await ctx.body.text();
  const early = continueInEnvelope(text);
  if (early !== undefined) {
    sink.next(early);
    // Let the next page's request leave before this page is parsed: the API
    // server then prepares it while this process parses (two cores at work).
    await new Promise((resolve) => setImmediate(resolve));
  }
  const list = JSON.parse(text) as { items?: T[] | null };
  sink.items(Array.isArray(list.items) ? list.items.map(slim) : []);
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
 *
 * Each next page is asked for as soon as its token is known, before the
 * page that carries it is parsed. Pages may then finish out of order; the
 * list is a set, so their order does not matter.
 */
export async function listAll<T extends KubernetesObject>(listPage: ListPage<T>, slim: (item: T) => T): Promise<KubernetesListObject<T>> {
  const items: T[] = [];
  const asked = new Map<string, Promise<KubernetesListObject<T>>>();
  const ask = (cont: string | undefined): Promise<KubernetesListObject<T>> => listPage(cont, options);
  const options = itemsTo(slim, {
    next: (cont) => {
      if (asked.has(cont)) return;
      const page = ask(cont);
      // Awaited below; until then (or if an earlier page fails first) its failure must not go unhandled.
      page.catch(() => {});
      asked.set(cont, page);
    },
    items: (page) => {
      for (const item of page) items.push(item);
    },
  });
  const first = await ask(undefined);
  for (let cont = first.metadata?._continue; cont; ) {
    const page = asked.get(cont) ?? ask(cont);
    asked.delete(cont);
    cont = (await page).metadata?._continue;
  }
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
