/**
 * The syscall field registry: every field of Falco's syscall source that Lanner produces,
 * each row with the code that produces it (one file per class), plus the Falco names it
 * does not produce and why (the binder warns where a rule uses one).
 */
import { FieldRegistry } from "../../rules/fields.js";
import { CONTAINER_FIELDS } from "./container.js";
import type { EventContext } from "./context.js";
import { EVT_FIELDS } from "./evt.js";
import { FD_FIELDS, FDLIST_FIELDS } from "./fd.js";
import { FS_PATH_FIELDS } from "./fs-path.js";
import { K8S_FIELDS, K8SMETA_FIELDS } from "./k8s.js";
import { PROC_FIELDS } from "./proc.js";
import { THREAD_FIELDS } from "./thread.js";
import { GROUP_FIELDS, USER_FIELDS } from "./user.js";

export { EventContext, type FdView, type FieldServices, type SockView } from "./context.js";

const NO_ASYNC = "Lanner has no plugin or asynchronous events";
const CAPTURE_FILE = "a field of sysdig capture files and chisels";
const NO_PROBES = "the health-check and probe commands of containers are not collected";
const NOT_COLLECTED = "the runtime does not report it to Lanner";

/** Falco field names Lanner does not produce, with the reason. */
const FOREIGN: ReadonlyMap<string, string> = new Map([
  ["evt.pluginname", NO_ASYNC],
  ["evt.plugininfo", NO_ASYNC],
  ["evt.is_async", NO_ASYNC],
  ["evt.asynctype", NO_ASYNC],
  ["evt.is_wait", "no waiting syscall is captured"],
  ["evt.wait_latency", "no waiting syscall is captured"],
  ["evt.around", CAPTURE_FILE],
  ["evt.outputtime", CAPTURE_FILE],
  ["evt.io_dir", CAPTURE_FILE],
  ["evt.type.is", CAPTURE_FILE],
  ["evt.latency.quantized", CAPTURE_FILE],
  ["evt.count.error", CAPTURE_FILE],
  ["evt.count.exit", CAPTURE_FILE],
  ["evt.buflen.in", CAPTURE_FILE],
  ["evt.buflen.out", CAPTURE_FILE],
  ["proc.is_container_healthcheck", NO_PROBES],
  ["proc.is_container_liveness_probe", NO_PROBES],
  ["proc.is_container_readiness_probe", NO_PROBES],
  ["proc.aargs", "not implemented: use proc.acmdline"],
  ["proc.aenv", "ancestors' environments are not kept"],
  ["thread.exectime", "needs scheduler switch events, which Lanner does not capture"],
  ["thread.cap_inheritable", "the inheritable set is not captured"],
  ["thread.cpu", CAPTURE_FILE],
  ["thread.vmsize", CAPTURE_FILE],
  ["thread.vmrss", CAPTURE_FILE],
  ["thread.pfmajor", CAPTURE_FILE],
  ["thread.pfminor", CAPTURE_FILE],
  ["container.image.id", NOT_COLLECTED],
  ["container.healthcheck", NO_PROBES],
  ["container.liveness_probe", NO_PROBES],
  ["container.readiness_probe", NO_PROBES],
  ["container.ip", NOT_COLLECTED],
  ["container.cni.json", NOT_COLLECTED],
  ["k8s.pod.cni.json", NOT_COLLECTED],
  ["k8s.ns.id", "namespace uids are not watched"],
  ["k8s.rc.name", "replication controllers are not watched"],
  ["k8s.svc.name", "services are not watched"],
  ["k8smeta.svc.name", "services are not watched"],
]);

/** Every syscall field, in class order. */
export const SYSCALL_FIELDS = new FieldRegistry<EventContext>(
  [
    EVT_FIELDS,
    PROC_FIELDS,
    THREAD_FIELDS,
    FD_FIELDS,
    FDLIST_FIELDS,
    FS_PATH_FIELDS,
    USER_FIELDS,
    GROUP_FIELDS,
    CONTAINER_FIELDS,
    K8S_FIELDS,
    K8SMETA_FIELDS,
  ],
  FOREIGN,
);
