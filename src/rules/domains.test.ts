// Domain-name fields: the names the rules ask about, and Falco's comparison semantics.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { domainNamesIn } from "./domains.js";
import { loadRules } from "./loader.js";
import { RECORDS, compatPath, compatRulesSkip } from "../../test/helpers/rules.js";

const names = (text: string): string[] => {
  const r = loadRules([{ name: "t.yaml", text }], { fields: RECORDS });
  assert.equal(r.diagnostics.filter((d) => d.severity === "error").length, 0);
  return domainNamesIn(r.ruleset.rules.map((x) => x.bound)).sort();
};

test("names come from =, != and in, through lists and macros, once each", () => {
  const text = `
- list: good_domains
  items: [a.example, b.example]
- macro: to_good
  condition: fd.sip.name in (good_domains)
- rule: R1
  desc: d
  condition: evt.type = connect and to_good and not fd.cip.name = c.example
  output: o
  priority: WARNING
- rule: R2
  desc: d
  condition: evt.type = connect and to_good and fd.rip.name != d.example and proc.name = a.example and not fd.sip.name startswith e.example
  output: o
  priority: WARNING
`;
  // proc.name's literal is not a domain; a prefix is not a name to resolve
  assert.deepEqual(names(text), ["a.example", "b.example", "c.example", "d.example"]);
});

const stable = compatPath("falco_rules.yaml");
test(
  "Falco's stable rules ask for the Kubernetes API server's name",
  { skip: compatRulesSkip("falco_rules.yaml") },
  () => {
    const r = loadRules([{ name: "falco_rules.yaml", text: readFileSync(stable, "utf8") }], {
      fields: RECORDS,
    });
    assert.deepEqual(domainNamesIn(r.ruleset.rules.map((x) => x.bound)), [
      "kubernetes.default.svc.cluster.local",
    ]);
  },
);
