/** A bundle of the three resources the control plane trades in. */
export interface Resources {
  readonly cpu: number; // millicores
  readonly memory: number; // bytes
  readonly gpu: number; // whole devices
}

export const RESOURCE_KEYS = ['cpu', 'memory', 'gpu'] as const;
export type ResourceKey = (typeof RESOURCE_KEYS)[number];

export const ZERO: Resources = Object.freeze({ cpu: 0, memory: 0, gpu: 0 });

export function add(a: Resources, b: Resources): Resources {
  return { cpu: a.cpu + b.cpu, memory: a.memory + b.memory, gpu: a.gpu + b.gpu };
}

export function sum(items: Iterable<Resources>): Resources {
  let acc = ZERO;
  for (const r of items) acc = add(acc, r);
  return acc;
}

export function min(a: Resources, b: Resources): Resources {
  return { cpu: Math.min(a.cpu, b.cpu), memory: Math.min(a.memory, b.memory), gpu: Math.min(a.gpu, b.gpu) };
}

/** a − b, floored at zero per resource. */
export function subtractFloor(a: Resources, b: Resources): Resources {
  return {
    cpu: Math.max(0, a.cpu - b.cpu),
    memory: Math.max(0, a.memory - b.memory),
    gpu: Math.max(0, a.gpu - b.gpu),
  };
}

export function equal(a: Resources, b: Resources): boolean {
  return a.cpu === b.cpu && a.memory === b.memory && a.gpu === b.gpu;
}
