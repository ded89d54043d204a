import assert from "node:assert/strict";
import { test } from "node:test";
import { condError, evalCond as ev } from "../../test/helpers/rules.js";

test("tolower / toupper", () => {
  assert.equal(ev("tolower(proc.name) = bash", { "proc.name": "BaSh" }), true);
  assert.equal(ev("toupper(proc.name) = BASH", { "proc.name": "bash" }), true);
  assert.equal(ev("tolower(proc.name) = bash", {}), false);
});

test("basename", () => {
  assert.equal(ev("basename(proc.exepath) = sh", { "proc.exepath": "/usr/bin/sh" }), true);
  assert.equal(ev("basename(proc.exepath) = sh", { "proc.exepath": "sh" }), true);
});

test("b64 decodes", () => {
  assert.equal(
    ev("b64(proc.args) = 'hello'", { "proc.args": Buffer.from("hello").toString("base64") }),
    true,
  );
});

test("len of strings and lists", () => {
  assert.equal(ev("len(proc.args) = 5", { "proc.args": "a b c" }), true);
  assert.equal(ev("len(fd.types) = 2", { "fd.types": ["a", "b"] }), true);
  assert.equal(ev("len(proc.args) > 0", {}), false);
});

test("join, concat, getopt", () => {
  assert.equal(ev("join(fd.types, '|') = 'a|b'", { "fd.types": ["a", "b"] }), true);
  assert.equal(
    ev("concat(proc.name, ':', user.name) = 'sh:root'", { "proc.name": "sh", "user.name": "root" }),
    true,
  );
  assert.equal(ev("concat(proc.name, user.name) exists", { "proc.name": "sh" }), false);
  assert.equal(ev("getopt(proc.args, 'c') = 'id'", { "proc.args": "-x -c id" }), true);
  assert.equal(ev("getopt(proc.args, 'c') = 'id'", { "proc.args": "-cid" }), true);
  assert.equal(ev("getopt(proc.args, 'c') exists", { "proc.args": "-x" }), false);
});

test("nested transformers", () => {
  assert.equal(ev("tolower(basename(proc.exepath)) = sh", { "proc.exepath": "/bin/SH" }), true);
});

test("transformer argument errors", () => {
  assert.equal(
    condError("tolower(fd.num) = x"),
    "1: transformer 'tolower' needs a string field, 'fd.num' is int64",
  );
  assert.equal(
    condError("tolower(proc.name, proc.pname) = x"),
    "1: transformer 'tolower' takes 1 field argument",
  );
  assert.equal(condError("join(fd.types) = x"), "1: transformer 'join' takes 1 field and 1 string argument");
  assert.equal(
    condError("len(proc.args) = abc"),
    "18: 'abc' is not a number (field 'len(proc.args)' is uint64)",
  );
  assert.equal(
    condError("len(proc.args) contains x"),
    "16: operator 'contains' is not supported by field 'len(proc.args)' of type uint64",
  );
});
