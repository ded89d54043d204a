import assert from "node:assert/strict";
import { test } from "node:test";
import { QueryTable } from "./query-table.js";

test("a response's latency is the time since its query; each query answers once", () => {
  const t = new QueryTable(10_000);
  t.add("q1", 1000);
  t.add("q2", 1500);
  assert.equal(t.answer("q1", 4000), 3000);
  assert.equal(t.answer("q1", 4100), null, "answered already");
  assert.equal(t.answer("nope", 4100), null);
  assert.equal(t.answer("q2", 1500), 0);
  assert.equal(t.size, 0);
});

test("a retried query restarts its clock; one older than the timeout has no latency", () => {
  const t = new QueryTable(1000);
  t.add("q", 0);
  t.add("q", 600);
  assert.equal(t.answer("q", 1500), 900);
  t.add("late", 0);
  assert.equal(t.answer("late", 1001), null);
});

test("bounded: expired queries go, and the oldest when full (counted)", () => {
  const t = new QueryTable(1000, 3);
  t.add("a", 0);
  t.add("b", 10);
  t.add("c", 20);
  t.add("d", 30);
  assert.equal(t.evicted, 1);
  assert.equal(t.answer("a", 40), null, "a was forgotten");
  assert.equal(t.answer("b", 40), 30);
  t.add("e", 1031); // c (20) and d (30) are more than 1000 ns old by now
  assert.equal(t.size, 1);
  t.expire(5000);
  assert.equal(t.size, 0);
});
