// Keeps the layering of docs/architecture.md: dependencies point down
// cli -> api -> bpftrace -> gadgets/outputs -> engine -> rules/state -> decode -> capture -> native;
// deploy (manifests, applying them) sits beside api and uses only state's kubeconfig loading.
const layer = (name, mayNotUse) => ({
  name: `${name}-layering`,
  severity: "error",
  from: { path: `^src/${name}/` },
  to: { path: mayNotUse.map((l) => `^src/${l}/`).join("|") },
});

module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", from: {}, to: { circular: true } },
    layer("native", [
      "capture",
      "decode",
      "state",
      "rules",
      "engine",
      "outputs",
      "gadgets",
      "bpftrace",
      "deploy",
      "api",
      "cli",
    ]),
    layer("capture", [
      "decode",
      "state",
      "rules",
      "engine",
      "outputs",
      "gadgets",
      "bpftrace",
      "deploy",
      "api",
      "cli",
    ]),
    layer("decode", ["state", "rules", "engine", "outputs", "gadgets", "bpftrace", "deploy", "api", "cli"]),
    layer("state", ["rules", "engine", "outputs", "gadgets", "bpftrace", "deploy", "api", "cli"]),
    layer("rules", [
      "native",
      "capture",
      "decode",
      "state",
      "engine",
      "outputs",
      "gadgets",
      "bpftrace",
      "deploy",
      "api",
      "cli",
    ]),
    layer("engine", ["outputs", "gadgets", "bpftrace", "deploy", "api", "cli"]),
    layer("outputs", ["gadgets", "bpftrace", "deploy", "api", "cli"]),
    layer("gadgets", ["bpftrace", "deploy", "api", "cli"]),
    // bpftrace: running the node's bpftrace scoped to pods (uses gadgets' environment)
    layer("bpftrace", ["deploy", "api", "cli"]),
    // deploy: the manifests and applying them (a client of the API server only)
    layer("deploy", ["capture", "decode", "engine", "outputs", "gadgets", "bpftrace", "api", "cli"]),
    // api: the node API (server in the agent, client and fan-out for kubectl lanner)
    layer("api", ["cli"]),
    {
      name: "only-src-native-loads-the-addon",
      severity: "error",
      from: { pathNot: "^src/native/" },
      to: { path: "\\.node$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "\\.test\\.ts$" },
  },
};
