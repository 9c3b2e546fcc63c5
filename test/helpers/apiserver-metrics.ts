/**
 * Reads the API server's own Prometheus metrics (GET /metrics with the admin
 * kubeconfig), to count what a daemon costs the API server.
 */
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly name: string;
  readonly labels: Labels;
  readonly value: number;
}

export async function scrapeApiserver(kc: KubeConfig): Promise<Sample[]> {
  const server = kc.getCurrentCluster()!.server;
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const text = await new Promise<string>((resolve, reject) => {
    https
      .get(`${server}/metrics`, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200) reject(new Error(`GET ${server}/metrics: HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
          else resolve(body);
        });
        res.on('error', reject);
      })
      .on('error', reject);
  });
  return parseExposition(text);
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the series called `name` whose labels pass `match`. */
export function total(samples: readonly Sample[], name: string, match: (labels: Labels) => boolean = () => true): number {
  return samples.filter((s) => s.name === name && match(s.labels)).reduce((acc, s) => acc + s.value, 0);
}
