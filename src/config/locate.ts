/**
 * Where in the YAML text a config key is, so every problem can name its line.
 * A key that is missing is reported at the mapping that should hold it.
 */
import { isMap, isPair, isScalar, type LineCounter, type Document, type Node } from 'yaml';

export type KeyPath = readonly (string | number)[];

/** 1-based line of the key at `path` (the key itself for a mapping entry), or of its nearest existing parent. */
export function lineOf(doc: Document, lines: LineCounter, path: KeyPath): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const at = path.slice(0, depth);
    const parent = at.length === 0 ? doc.contents : (doc.getIn(at.slice(0, -1), true) as Node | undefined);
    if (at.length > 0 && isMap(parent)) {
      const key = at[at.length - 1];
      const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
      const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
      if (range) return lines.linePos(range[0]).line;
    }
    const node = (at.length === 0 ? doc.contents : doc.getIn(at, true)) as Node | null | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}
