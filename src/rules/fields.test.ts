import assert from "node:assert/strict";
import { test } from "node:test";
import { compileFilter } from "./filter.js";
import { FieldRegistry, recordRegistry, type FieldClass } from "./fields.js";

interface Ev {
  name: string;
  tags: string[];
}

const CLASS: FieldClass<Ev> = {
  name: "t",
  desc: "test",
  fields: [
    { name: "t.name", type: "string", desc: "name", get: (e) => e.name },
    {
      name: "t.tag",
      type: "string",
      desc: "one tag",
      arg: "optional",
      multi: (a) => (a === undefined ? "any" : undefined),
      make: (a) => (a === undefined ? (e) => e.tags : (e) => e.tags[Number(a)] ?? null),
    },
    {
      name: "t.label",
      type: "string",
      desc: "label",
      arg: "key",
      dotted: true,
      make: (a) => () => `L:${String(a)}`,
    },
  ],
};

test("a field cannot be registered without exactly one producer, twice, or outside its class", () => {
  const noProducer = {
    name: "t",
    desc: "d",
    fields: [{ name: "t.x", type: "string", desc: "x" }],
  } as FieldClass<Ev>;
  assert.throws(() => new FieldRegistry([noProducer]), /exactly one of get and make/);
  const twice: FieldClass<Ev> = { name: "t", desc: "d", fields: [CLASS.fields[0]!, CLASS.fields[0]!] };
  assert.throws(() => new FieldRegistry([twice]), /registered twice/);
  const stray: FieldClass<Ev> = { name: "u", desc: "d", fields: [CLASS.fields[0]!] };
  assert.throws(() => new FieldRegistry([stray]), /not in class 'u'/);
});

test("resolution: exact names, bracket and dotted arguments, errors", () => {
  const reg = new FieldRegistry([CLASS], new Map([["t.gone", "another tool's"]]));
  const r = (n: string, a?: string) => {
    const x = reg.resolve(n, a);
    return x.ok ? `${x.field.def.name}|${String(x.field.arg)}` : x.message;
  };
  assert.equal(r("t.name"), "t.name|undefined");
  assert.equal(r("t.tag", "2"), "t.tag|2");
  assert.equal(r("t.label.io.k8s.x"), "t.label|io.k8s.x");
  assert.equal(r("t.label", "k"), "t.label|k");
  assert.equal(r("t.label"), "field 't.label' requires an argument: t.label[...]");
  assert.equal(r("t.name", "1"), "field 't.name' does not take an argument");
  assert.equal(r("t.nope"), "unknown field 't.nope'");
  assert.equal(reg.foreign.get("t.gone"), "another tool's");
});

test("conditions call the producers: one value, any of several, keyed", () => {
  const reg = new FieldRegistry([CLASS]);
  const ev: Ev = { name: "a", tags: ["x", "y"] };
  const t = (c: string) => {
    const r = compileFilter(c, { fields: reg });
    assert.ok(r.ok, c);
    return r.filter.predicate(ev, "e");
  };
  assert.equal(t("t.name = a"), true);
  assert.equal(t("t.tag = y"), true); // any tag
  assert.equal(t("t.tag != x"), true); // some tag differs: `any` holds for != too
  assert.equal(t("t.tag[0] = y"), false);
  assert.equal(t("t.label.k = L:k"), true);
});

test("recordRegistry: the same schema over plain records", () => {
  const rec = recordRegistry(new FieldRegistry([CLASS]));
  const r = compileFilter("t.name = a and t.tag[1] = y and t.label[k] = v", { fields: rec });
  assert.ok(r.ok);
  assert.equal(r.filter.predicate({ "t.name": "a", "t.tag[1]": "y", "t.label[k]": "v" }, "e"), true);
  assert.equal(r.filter.predicate({ "t.name": "a", "t.tag[1]": "y", "t.label.k": "v" }, "e"), true);
  assert.equal(r.filter.predicate({ "t.name": "b" }, "e"), false);
});

test("a field this host cannot produce: a warning naming it and the rule, the check reads as unknown", () => {
  const reg = new FieldRegistry<Ev>([
    {
      name: "t",
      desc: "test",
      fields: [
        {
          name: "t.gone",
          type: "string",
          desc: "x",
          unavailable: () => "no such kernel feature",
          get: () => "v",
        },
      ],
    },
  ]);
  const r = compileFilter("t.gone = v", { fields: reg });
  assert.ok(r.ok);
  assert.deepEqual(
    r.diagnostics.map((d) => `${d.col} ${d.severity} ${d.message}`),
    [
      "1 warning field 't.gone' cannot be produced on this host (no such kernel feature): it reads as unknown and checks on it are false",
    ],
  );
});
