// Keeps the layering of docs/architecture.md: dependencies point down
// cli -> gadgets/outputs -> engine -> rules/state -> decode -> capture -> native.
const layer = (name, mayNotUse) => ({
  name: `${name}-layering`,
  severity: "error",
  from: { path: `^src/${name}/` },
  to: { path: mayNotUse.map((l) => `^src/${l}/`).join("|") },
});

module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", from: {}, to: { circular: true } },
    layer("native", ["capture", "decode", "state", "rules", "engine", "outputs", "gadgets", "cli"]),
    layer("capture", ["decode", "state", "rules", "engine", "outputs", "gadgets", "cli"]),
    layer("decode", ["state", "rules", "engine", "outputs", "gadgets", "cli"]),
    layer("state", ["rules", "engine", "outputs", "gadgets", "cli"]),
    layer("rules", ["native", "capture", "decode", "state", "engine", "outputs", "gadgets", "cli"]),
    layer("engine", ["outputs", "gadgets", "cli"]),
    layer("outputs", ["gadgets", "cli"]),
    layer("gadgets", ["cli"]),
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
