/**
 * The gadget registry holds what it lists: every gadget has a folder with a README (an
 * example and an Overhead section) and a kernel test; its fields are rules fields with the
 * rules' type where the name is one, `<gadget>.<name>` otherwise; its flags do not collide
 * with the common ones; its defaults and sort keys are its fields; its help lists them.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { packageRoot } from "../capture/paths.js";
import { SYSCALL_FIELDS } from "../engine/fields/index.js";
import { gadgetHelp } from "../cli/commands/gadget.js";
import { COMMON_COLUMNS } from "./common-columns.js";
import { GADGETS, gadgetFields, gadgetId } from "./index.js";
import { parseSelector, Selection } from "./selection.js";
import { selectColumns, ColumnError } from "./output.js";
import { HOST_CONTAINER, type ContainerInfo } from "../state/containers/container-info.js";

const SRC = join(packageRoot(), "src/gadgets");
const COMMON_FLAGS = [
  "namespace",
  "all-namespaces",
  "podname",
  "containername",
  "selector",
  "host",
  "node",
  "filter",
  "timeout",
  "output",
  "help",
  "sort",
  "interval",
  "max-rows",
];

test("every gadget is a folder with a README (example, Overhead) and a kernel test", () => {
  for (const g of GADGETS) {
    const dir = join(SRC, `${g.category}-${g.name}`);
    assert.ok(existsSync(dir), `${gadgetId(g)}: src/gadgets/${g.category}-${g.name}/`);
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    assert.match(readme, /```/, `${gadgetId(g)}: README has an example`);
    assert.match(readme, /^## Overhead/m, `${gadgetId(g)}: README has an Overhead section`);
    assert.ok(
      readdirSync(dir).some((f) => f.endsWith(".kernel.test.ts")),
      `${gadgetId(g)}: a kernel test in its folder`,
    );
  }
});

test("fields: rules names carry the rules' type; the rest are <gadget>.<name>", () => {
  for (const g of GADGETS) {
    const names = new Set<string>();
    for (const f of gadgetFields(g)) {
      assert.ok(!names.has(f.name), `${gadgetId(g)}: ${f.name} listed once`);
      names.add(f.name);
      const rule = SYSCALL_FIELDS.byName(f.name);
      if (rule !== undefined)
        assert.equal(f.type, rule.type, `${gadgetId(g)}: ${f.name} has the rules' type`);
      else if (f.name !== "k8s.node.name")
        assert.ok(
          f.name.startsWith(`${g.name}.`),
          `${gadgetId(g)}: ${f.name} is a rules field or ${g.name}.<name>`,
        );
      assert.ok(f.desc.length > 3, `${gadgetId(g)}: ${f.name} is described`);
    }
    assert.ok(
      names.has("k8s.node.name"),
      `${gadgetId(g)}: records say their node (kubectl lanner merges nodes)`,
    );
    for (const d of g.defaults) assert.ok(names.has(d), `${gadgetId(g)}: default column ${d} is a field`);
    for (const s of g.defaultSort ?? [])
      assert.ok(names.has(s.replace(/^[-+]/, "")), `${gadgetId(g)}: sort key ${s} is a field`);
    for (const p of g.params) {
      assert.ok(!COMMON_FLAGS.includes(p.name), `${gadgetId(g)}: --${p.name} is not a common flag`);
      for (const s of p.shows ?? []) assert.ok(names.has(s), `${gadgetId(g)}: --${p.name} shows field ${s}`);
    }
    const help = gadgetHelp(g);
    for (const n of names) assert.ok(help.includes(n), `${gadgetId(g)}: --help lists ${n}`);
    for (const p of g.params)
      assert.ok(help.includes(`--${p.name}`), `${gadgetId(g)}: --help lists --${p.name}`);
  }
});

test("common columns are rules fields (but the node's name) and every one has a producer", () => {
  for (const c of COMMON_COLUMNS) {
    if (c.name !== "k8s.node.name") assert.ok(SYSCALL_FIELDS.byName(c.name), c.name);
    assert.equal(typeof c.get, "function", c.name);
  }
});

test("selectors: Inspektor Gadget's spelling with exclusions; bad ones are errors", () => {
  assert.deepEqual(parseSelector("app=web,tier!=db,!canary,env=!prod"), [
    { key: "app", value: "web", negate: false },
    { key: "tier", value: "db", negate: true },
    { key: "canary", value: undefined, negate: true },
    { key: "env", value: "prod", negate: true },
  ]);
  for (const bad of ["", "=x", "a=b,", "a b=c"]) assert.throws(() => parseSelector(bad), bad);
});

test("selection: names, exclusions, labels; undefined while metadata comes", () => {
  const c = (name: string | null, complete = true): ContainerInfo =>
    ({ ...HOST_CONTAINER, id: "abc", fullId: "abcdef", name, complete }) as ContainerInfo;
  const pod = (ns: string, name: string, labels: Record<string, string> | null) => ({
    name,
    namespace: ns,
    uid: null,
    sandboxId: null,
    fullSandboxId: null,
    labels,
    ip: null,
    nsLabels: null,
    owners: {},
  });
  const sel = (o: Partial<ConstructorParameters<typeof Selection>[0]>) =>
    new Selection({
      namespaces: [],
      allNamespaces: false,
      pods: [],
      containers: [],
      labels: [],
      host: false,
      ...o,
    });
  const p = pod("shop", "web-1", { app: "web" }) as never;
  assert.equal(sel({}).matches(c("nginx"), p), true);
  assert.equal(sel({}).matches(HOST_CONTAINER, null), false);
  assert.equal(sel({ host: true }).matches(HOST_CONTAINER, null), true);
  assert.equal(sel({ namespaces: ["shop"] }).matches(c("nginx"), p), true);
  assert.equal(sel({ namespaces: ["!shop"] }).matches(c("nginx"), p), false);
  assert.equal(sel({ pods: ["web-2", "web-1"] }).matches(c("nginx"), p), true);
  assert.equal(sel({ containers: ["!nginx"] }).matches(c("nginx"), p), false);
  assert.equal(sel({ labels: parseSelector("app=web") }).matches(c("nginx"), p), true);
  assert.equal(sel({ labels: parseSelector("app!=web") }).matches(c("nginx"), p), false);
  assert.equal(sel({ labels: parseSelector("!app") }).matches(c("nginx"), p), false);
  assert.equal(
    sel({ labels: parseSelector("app") }).matches(c("nginx"), pod("shop", "x", null) as never),
    undefined,
  );
  assert.equal(sel({ containers: ["nginx"] }).matches(c(null, false), p), undefined);
  assert.equal(sel({ namespaces: ["shop"] }).matches(undefined, null), undefined);
});

test("-o columns: pick, add, remove, groups; unknown ones are errors", () => {
  const g = GADGETS[0];
  assert.ok(g);
  const all = gadgetFields(g);
  const names = (spec?: string) => selectColumns(all, g.defaults, spec).map((c) => c.name);
  assert.deepEqual(names(), [...g.defaults]);
  assert.deepEqual(names("proc.pid,comm"), ["proc.pid", "proc.name"]);
  assert.ok(names("+container.id").includes("container.id"));
  assert.ok(!names("-k8s").includes("k8s.pod.name"));
  assert.ok(names("+runtime").includes("container.image"));
  assert.throws(() => names("nope"), ColumnError);
  assert.throws(() => names("proc.pid,+proc.name"), ColumnError);
});

test("regression: --help ran a list(string) type into the field's description (its column was 10 wide)", () => {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  for (const g of GADGETS) {
    const help = gadgetHelp(g);
    for (const f of gadgetFields(g))
      assert.match(
        help,
        new RegExp(`${esc(f.name)} +${esc(f.type)} +${esc(f.desc.slice(0, 12))}`),
        `${gadgetId(g)}: ${f.name}`,
      );
  }
});
