// DomainNames: watched names, refreshed addresses, failures that keep what was known.
import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalIp, DomainNames } from "./domain-names.js";

function fakeDns(table: Record<string, readonly string[] | Error>) {
  const calls: string[] = [];
  const lookup = async (name: string): Promise<readonly string[]> => {
    calls.push(name);
    const v = table[name];
    if (v === undefined)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    if (v instanceof Error) throw v;
    return v;
  };
  return { table, calls, lookup };
}

test("canonical addresses: IPv6 compressed and lower-case, IPv4-mapped as IPv4", () => {
  assert.equal(canonicalIp("10.1.2.3"), "10.1.2.3");
  assert.equal(canonicalIp("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
  assert.equal(canonicalIp("::ffff:10.1.2.3"), "10.1.2.3");
  assert.equal(canonicalIp("not an ip"), undefined);
});

test("an IP maps to every watched name that resolves to it", async () => {
  const dns = fakeDns({
    "a.example": ["10.0.0.1", "2001:db8::1"],
    "b.example": ["10.0.0.1"],
    "c.example": ["10.0.0.3"],
  });
  const d = new DomainNames({ lookup: dns.lookup, refreshMs: 60_000 });
  try {
    await d.watch(["a.example", "b.example", "c.example"]);
    assert.deepEqual([...d.namesOf("10.0.0.1")].sort(), ["a.example", "b.example"]);
    assert.deepEqual(d.namesOf("2001:0db8::0001"), ["a.example"]);
    assert.deepEqual(d.namesOf("10.0.0.3"), ["c.example"]);
    assert.deepEqual(d.namesOf("10.0.0.9"), []);
    assert.deepEqual(d.stats(), { names: 3, addresses: 3, lookups: 3, failures: 0 });
  } finally {
    d.close();
  }
});

test("refresh follows rotating addresses; a failed lookup keeps the last ones, logged once", async () => {
  const dns = fakeDns({ "api.example": ["10.0.0.1"] });
  const errors: string[] = [];
  const d = new DomainNames({ lookup: dns.lookup, refreshMs: 60_000, onError: (n) => errors.push(n) });
  try {
    await d.watch(["api.example"]);
    assert.deepEqual(d.namesOf("10.0.0.1"), ["api.example"]);
    dns.table["api.example"] = ["10.0.0.2"];
    await d.refresh();
    assert.deepEqual(d.namesOf("10.0.0.1"), []);
    assert.deepEqual(d.namesOf("10.0.0.2"), ["api.example"]);
    dns.table["api.example"] = new Error("EAI_AGAIN");
    await d.refresh();
    await d.refresh();
    assert.deepEqual(d.namesOf("10.0.0.2"), ["api.example"], "kept across failures");
    assert.deepEqual(errors, ["api.example"], "reported once while it keeps failing");
    assert.equal(d.stats().failures, 2);
  } finally {
    d.close();
  }
});

test("watch replaces the set: names no longer asked for are forgotten, kept ones not re-resolved", async () => {
  const dns = fakeDns({ "a.example": ["10.0.0.1"], "b.example": ["10.0.0.2"] });
  const d = new DomainNames({ lookup: dns.lookup, refreshMs: 60_000 });
  try {
    await d.watch(["a.example", "b.example"]);
    await d.watch(["b.example"]);
    assert.deepEqual(d.namesOf("10.0.0.1"), []);
    assert.deepEqual(d.namesOf("10.0.0.2"), ["b.example"]);
    assert.deepEqual(dns.calls, ["a.example", "b.example"]);
    await d.watch([]);
    assert.deepEqual(d.stats().names, 0);
  } finally {
    d.close();
  }
});

test("the system resolver: localhost through /etc/hosts", async () => {
  const d = new DomainNames({ refreshMs: 60_000 });
  try {
    await d.watch(["localhost"]);
    assert.deepEqual(d.namesOf("127.0.0.1"), ["localhost"]);
  } finally {
    d.close();
  }
});

test("at most two lookups at once, and never two for the same name", async () => {
  let running = 0;
  let peak = 0;
  const release: (() => void)[] = [];
  const calls: string[] = [];
  const lookup = (name: string): Promise<readonly string[]> => {
    calls.push(name);
    running++;
    peak = Math.max(peak, running);
    return new Promise((resolve) =>
      release.push(() => {
        running--;
        resolve(["10.0.0.1"]);
      }),
    );
  };
  const d = new DomainNames({ lookup, refreshMs: 60_000 });
  try {
    const first = d.watch(["a.example", "b.example", "c.example"]);
    void d.refresh(); // a.example and b.example are still in flight: only c.example may start
    while (release.length > 0 || calls.length < 3) {
      await new Promise((r) => setImmediate(r));
      release.shift()?.();
    }
    await first;
    assert.equal(peak, 2);
    assert.deepEqual(
      [...calls].sort(),
      ["a.example", "b.example", "c.example", "c.example"].slice(0, calls.length).sort(),
    );
    assert.ok(calls.filter((n) => n === "a.example").length === 1, "a.example looked up once");
  } finally {
    d.close();
  }
});
