/**
 * Which processes a gadget reports, as Inspektor Gadget spells it: `-n/--namespace`,
 * `-A/--all-namespaces`, `-p/--podname`, `-c/--containername`, `-l/--selector k=v,...` (each
 * list may exclude with `!`), `--host` (processes outside containers too). Decided per
 * container from the runtime's and the pod's metadata; `undefined` while that metadata is
 * not known yet (a container that just started), so its first events can wait for it.
 */
import { HOST_CONTAINER, type ContainerInfo } from "../state/containers/container-info.js";
import type { PodMeta } from "../state/k8s/k8s-metadata.js";

/** One requirement of a label selector. */
export interface LabelReq {
  readonly key: string;
  readonly value: string | undefined;
  /** `!key=value`, `key!=value`, `key=!value`: the label must not have that value (or, with
   * no value, must be absent) */
  readonly negate: boolean;
}

export interface SelectionOptions {
  readonly namespaces: readonly string[];
  readonly allNamespaces: boolean;
  readonly pods: readonly string[];
  readonly containers: readonly string[];
  readonly labels: readonly LabelReq[];
  /** processes outside containers too */
  readonly host: boolean;
}

export class SelectorError extends Error {}

/** `app=web,tier!=db,!canary,env=!prod` */
export function parseSelector(text: string): LabelReq[] {
  const out: LabelReq[] = [];
  for (const raw of text.split(",")) {
    const part = raw.trim();
    if (part === "") throw new SelectorError(`empty requirement in selector '${text}'`);
    let negate = false;
    let s = part;
    if (s.startsWith("!")) {
      negate = true;
      s = s.slice(1);
    }
    const ne = s.indexOf("!=");
    const eq = s.indexOf("=");
    let key: string;
    let value: string | undefined;
    if (ne > 0) {
      negate = !negate;
      key = s.slice(0, ne);
      value = s.slice(ne + 2);
    } else if (eq > 0) {
      key = s.slice(0, eq);
      value = s.slice(eq + 1);
      if (value.startsWith("!")) {
        negate = !negate;
        value = value.slice(1);
      }
    } else if (eq === 0 || ne === 0) {
      throw new SelectorError(`selector requirement '${part}' has no key`);
    } else {
      key = s;
      value = undefined;
    }
    if (!/^[A-Za-z0-9][-A-Za-z0-9_./]*$/.test(key))
      throw new SelectorError(`selector key '${key}' is not a label name`);
    out.push({ key, value, negate });
  }
  return out;
}

/** A name list with `!` exclusions: matches when in the list (or the list has only
 * exclusions) and not excluded. An empty list matches everything. */
function listMatches(list: readonly string[], value: string | null): boolean {
  if (list.length === 0) return true;
  let anyPositive = false;
  let hit = false;
  for (const item of list) {
    if (item.startsWith("!")) {
      if (value !== null && value === item.slice(1)) return false;
    } else {
      anyPositive = true;
      if (value !== null && value === item) hit = true;
    }
  }
  return anyPositive ? hit : true;
}

export class Selection {
  constructor(readonly opts: SelectionOptions) {}

  /** True when nothing is excluded: every process of the node is reported. */
  get everything(): boolean {
    const o = this.opts;
    return (
      o.host &&
      o.namespaces.length === 0 &&
      o.pods.length === 0 &&
      o.containers.length === 0 &&
      o.labels.length === 0
    );
  }

  /** Whether pod metadata is needed to decide about a container. */
  private get needsPod(): boolean {
    const o = this.opts;
    return o.namespaces.length > 0 || o.pods.length > 0 || o.labels.length > 0;
  }

  /**
   * The verdict for a process in container `c` (HOST_CONTAINER for the host) of pod `pod`:
   * true, false, or undefined while the container's or the pod's metadata is still coming.
   */
  matches(c: ContainerInfo | undefined, pod: PodMeta | null): boolean | undefined {
    if (c === HOST_CONTAINER) return this.opts.host;
    if (c === undefined) return undefined;
    const o = this.opts;
    if (o.containers.length > 0) {
      if (!c.complete && c.name === null) return undefined;
      if (!listMatches(o.containers, c.name)) return false;
    }
    if (!this.needsPod) return true;
    if (pod === null) return c.complete ? false : undefined;
    if (!listMatches(o.namespaces, pod.namespace)) return false;
    if (!listMatches(o.pods, pod.name)) return false;
    // the pod's labels come with its sandbox, which may still be on its way
    if (o.labels.length > 0 && pod.labels === null) return undefined;
    for (const req of o.labels) {
      const v = pod.labels?.[req.key];
      const has = req.value === undefined ? v !== undefined : v === req.value;
      if (has === req.negate) return false;
    }
    return true;
  }
}
