// Server-side filter of lanner.v1.Alerts/Subscribe, compiled once per call.

import type { Alert, Priority } from "../../engine/alert.js";
import { INTERNAL_SOURCE, parsePriority, priorityLevel } from "../../engine/alert.js";
import type { AlertFilter } from "./hub.js";

export class FilterError extends Error {
  readonly code = "INVALID_FILTER";
}

export interface SubscribeFilter {
  readonly rules?: readonly string[];
  readonly min_priority?: string;
  readonly tags?: readonly string[];
  readonly sources?: readonly string[];
  readonly containers?: readonly string[];
  readonly pods?: readonly string[];
  readonly include_internal?: boolean;
}

export const FILTER_MAX_VALUES = 1024;
export const FILTER_MAX_VALUE_LENGTH = 1024;

function list(name: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new FilterError(`${name}: expected a list`);
  if (v.length > FILTER_MAX_VALUES) throw new FilterError(`${name}: more than ${FILTER_MAX_VALUES} values`);
  for (const s of v) {
    if (typeof s !== "string" || s.length === 0) throw new FilterError(`${name}: empty value`);
    if (s.length > FILTER_MAX_VALUE_LENGTH)
      throw new FilterError(`${name}: value longer than ${FILTER_MAX_VALUE_LENGTH}`);
  }
  return v as string[];
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** Returns undefined for an empty filter (matches everything). Throws FilterError. */
export function compileFilter(req: SubscribeFilter): AlertFilter | undefined {
  const rules = new Set(list("rules", req.rules));
  const tags = list("tags", req.tags);
  const sources = new Set(list("sources", req.sources));
  const containers = list("containers", req.containers);
  const pods = list("pods", req.pods);
  let minLevel = 7;
  if (req.min_priority !== undefined && req.min_priority !== "") {
    const p: Priority | undefined = parsePriority(req.min_priority);
    if (p === undefined)
      throw new FilterError(`min_priority: unknown priority ${JSON.stringify(req.min_priority)}`);
    minLevel = priorityLevel(p);
  }
  const includeInternal = req.include_internal === true;
  const empty =
    rules.size === 0 &&
    tags.length === 0 &&
    sources.size === 0 &&
    containers.length === 0 &&
    pods.length === 0 &&
    minLevel === 7;
  if (empty) return undefined;

  return (a: Alert): boolean => {
    if (includeInternal && a.source === INTERNAL_SOURCE) return true;
    if (priorityLevel(a.priority) > minLevel) return false;
    if (rules.size > 0 && !rules.has(a.rule)) return false;
    if (sources.size > 0 && !sources.has(a.source)) return false;
    if (tags.length > 0 && !tags.some((t) => a.tags.includes(t))) return false;
    if (containers.length > 0) {
      const id = str(a.outputFields["container.id"]);
      const name = str(a.outputFields["container.name"]);
      const ok = containers.some(
        (c) =>
          (id !== undefined &&
            (id === c || (c.length >= 12 && id.startsWith(c)) || (id.length >= 12 && c.startsWith(id)))) ||
          name === c,
      );
      if (!ok) return false;
    }
    if (pods.length > 0) {
      const pod = str(a.outputFields["k8s.pod.name"]);
      const ns = str(a.outputFields["k8s.ns.name"]);
      const ok = pods.some((p) => {
        const slash = p.indexOf("/");
        if (slash < 0) return pod === p;
        return ns === p.slice(0, slash) && pod === p.slice(slash + 1);
      });
      if (!ok) return false;
    }
    return true;
  };
}
