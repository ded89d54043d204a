/**
 * Container, pod and user fields of an event, from the state enrichers: what `lanner
 * capture` adds to each line (the rules engine reads the same through EventFieldReader).
 */
import type { DecodedEvent } from "../decode/event.js";
import type { EventFields } from "./event-fields.js";
import type { Enrichers } from "./field-reader.js";

/** The container and pod fields printed with every captured event. */
export const CAPTURE_STATE_FIELDS: readonly string[] = [
  "container.name",
  "container.image",
  "container.image.repository",
  "container.image.tag",
  "container.type",
  "container.privileged",
  "k8s.pod.name",
  "k8s.ns.name",
  "k8s.pod.uid",
  "k8s.pod.sandbox_id",
  "k8s.pod.labels",
];

export function addStateFields(out: EventFields, ev: DecodedEvent, enrich: Enrichers): void {
  const id = enrich.containerId?.(ev, undefined) ?? "host";
  out["container.id"] = id;
  if (enrich.userName) out["user.name"] = enrich.userName(ev.euid, ev.tgid);
  if (enrich.groupName) out["group.name"] = enrich.groupName(ev.egid, ev.tgid);
  if (id === "host" || !enrich.containerField) return;
  out["container.full_id"] =
    (enrich.containerField(id, "container.full_id", undefined) as string | null | undefined) ?? null;
  for (const f of CAPTURE_STATE_FIELDS) {
    const v = enrich.containerField(id, f, undefined);
    if (v === undefined) continue;
    out[f] = typeof v === "bigint" ? Number(v) : v instanceof Uint8Array ? null : v;
  }
}
