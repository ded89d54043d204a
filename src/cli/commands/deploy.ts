/**
 * `lanner deploy [--print]` and `lanner undeploy [--print]`: install or remove the agent's
 * DaemonSet and what it needs (src/deploy/) in the cluster of the kubeconfig.
 */
import { parseArgs } from "node:util";
import { deploy, undeploy, undeployOrder } from "../../deploy/apply.js";
import {
  allObjects,
  defaultSpec,
  specProblems,
  toYaml,
  type DeploySpec,
  type KubeObject,
} from "../../deploy/manifests.js";
import { generateTlsMaterial } from "../../deploy/tls.js";
import { UsageError, type CliIO } from "../io.js";

export const DEPLOY_HELP = `Usage: lanner deploy [options]

Installs Lanner in the cluster of the current kubeconfig context: the namespace, the TLS
Secrets (a CA, the agents' server certificate for lanner-agent, the client certificate of
kubectl lanner), the ServiceAccount and its ClusterRole (list/watch of pods, namespaces and
nodes), the ConfigMap with lanner.yaml and the default rules, the metrics Service and the
agent DaemonSet. Objects that exist are replaced; the TLS Secrets are kept unless
--rotate-certs. Prints one line per object.

Options:
  --print               write the objects as YAML on stdout (with new TLS material) and
                        apply nothing
  --image IMAGE         the agent image (default ghcr.io/lanner/lanner:<version>)
  -n, --namespace NS    the namespace (default lanner)
  --node-selector K=V   run only on nodes with this label (repeatable, or K=V,K2=V2)
  --rotate-certs        make new TLS material even if the Secrets exist (the agents roll)
  --kubeconfig FILE     the kubeconfig (default $KUBECONFIG, ~/.kube/config)
  --context NAME        the kubeconfig context (default its current-context)
  --timeout S           deadline of each API request in seconds (default 30)
  -h, --help
`;

export const UNDEPLOY_HELP = `Usage: lanner undeploy [options]

Removes what lanner deploy installed: the DaemonSet, the Service, the ConfigMap, the
ClusterRoleBinding and ClusterRole, the ServiceAccount, the TLS Secrets, then the namespace
if lanner deploy created it, waiting until the API server has removed it. Objects already
gone are reported as not found.

Options:
  --print               write the objects it would delete as YAML on stdout (for
                        kubectl delete -f -) and delete nothing
  -n, --namespace NS    the namespace (default lanner)
  --wait S              how long to wait for the namespace to be gone (default 120; 0: do
                        not wait); exit 1 if it is still there
  --kubeconfig FILE     the kubeconfig (default $KUBECONFIG, ~/.kube/config)
  --context NAME        the kubeconfig context (default its current-context)
  --timeout S           deadline of each API request in seconds (default 30)
  -h, --help
`;

function seconds(flag: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < min)
    throw new UsageError(`${flag}: expected a number of seconds${min > 0 ? " above 0" : ""}, got '${v}'`);
  return n;
}

function nodeSelector(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values)
    for (const term of v.split(",")) {
      const i = term.indexOf("=");
      if (i <= 0) throw new UsageError(`--node-selector: expected KEY=VALUE, got '${term}'`);
      out[term.slice(0, i)] = term.slice(i + 1);
    }
  return out;
}

function specFrom(values: { image?: string; namespace?: string; "node-selector"?: string[] }): DeploySpec {
  const d = defaultSpec();
  const spec: DeploySpec = {
    image: values.image ?? d.image,
    namespace: values.namespace ?? d.namespace,
    nodeSelector: nodeSelector(values["node-selector"] ?? []),
  };
  const problems = specProblems(spec);
  if (problems.length > 0) {
    // name the flag each problem comes from
    const flagged = problems.map((p) =>
      p.startsWith("namespace")
        ? `--namespace: ${p}`
        : p.startsWith("image")
          ? `--image: ${p}`
          : `--node-selector: ${p}`,
    );
    throw new UsageError(flagged.join("; "));
  }
  return spec;
}

const COMMON = {
  namespace: { type: "string", short: "n" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  timeout: { type: "string" },
  print: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export async function deployCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON,
      image: { type: "string" },
      "node-selector": { type: "string", multiple: true },
      "rotate-certs": { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout(DEPLOY_HELP);
    return 0;
  }
  const spec = specFrom(values);
  const timeoutMs = seconds("--timeout", values.timeout, 30, 0.001) * 1000;
  if (values.print) {
    if (values["rotate-certs"] || values.kubeconfig !== undefined || values.context !== undefined)
      throw new UsageError(
        "--print applies nothing: --rotate-certs, --kubeconfig and --context do not go with it",
      );
    io.stdout(toYaml(allObjects(spec, await generateTlsMaterial())));
    return 0;
  }
  await deploy(spec, {
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.context !== undefined ? { context: values.context } : {}),
    rotateCerts: values["rotate-certs"] === true,
    requestTimeoutMs: timeoutMs,
    log: (l) => io.stdout(l + "\n"),
  });
  return 0;
}

/** An object reduced to what names it (for `kubectl delete -f -`). */
function reference(o: KubeObject): KubeObject {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name: o.metadata.name,
      ...(o.metadata.namespace !== undefined ? { namespace: o.metadata.namespace } : {}),
    },
  };
}

export async function undeployCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...COMMON, wait: { type: "string" } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout(UNDEPLOY_HELP);
    return 0;
  }
  const spec = specFrom(values);
  const timeoutMs = seconds("--timeout", values.timeout, 30, 0.001) * 1000;
  const waitMs = seconds("--wait", values.wait, 120, 0) * 1000;
  if (values.print) {
    if (values.kubeconfig !== undefined || values.context !== undefined || values.wait !== undefined)
      throw new UsageError("--print deletes nothing: --wait, --kubeconfig and --context do not go with it");
    io.stdout(toYaml(undeployOrder(spec).map(reference)));
    return 0;
  }
  const r = await undeploy(spec, {
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.context !== undefined ? { context: values.context } : {}),
    requestTimeoutMs: timeoutMs,
    waitMs,
    log: (l) => io.stdout(l + "\n"),
  });
  const nsKept = r.objects.at(-1)?.outcome === "kept";
  if (!r.namespaceGone && !nsKept && waitMs > 0) {
    io.stderr(`lanner undeploy: namespace ${spec.namespace} is still terminating after ${waitMs / 1000} s\n`);
    return 1;
  }
  return 0;
}
