/** top file's decoding helpers: stat(2)'s device encoding and names of files without a path. */
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { test } from "node:test";
import { fileName, statDev } from "./top-file.js";
import { LNG_TF_MAGIC } from "./layout.generated.js";

test("statDev: the kernel's major << 20 | minor as st_dev", () => {
  assert.equal(statDev((254 << 20) | 0), 65024); // 254:0
  assert.equal(statDev((1 << 20) | 5), 0x105); // /dev/zero's device numbers 1:5
  assert.equal(statDev((8 << 20) | 0x123), (0x23 | (8 << 8) | (0x100 << 12)) >>> 0);
  const st = statSync("/dev/null");
  assert.equal(statDev(((st.rdev >> 8) << 20) | (st.rdev & 0xff)), st.rdev);
});

test("fileName: pipes, sockets and anonymous inodes as /proc/PID/fd names them", () => {
  assert.equal(fileName(LNG_TF_MAGIC.LNG_TF_PIPEFS, 77n, "", false), "pipe:[77]");
  assert.equal(fileName(LNG_TF_MAGIC.LNG_TF_SOCKFS, 78n, "", false), "socket:[78]");
  assert.equal(fileName(LNG_TF_MAGIC.LNG_TF_ANON_INODEFS, 1n, "/[eventfd]", false), "anon_inode:[eventfd]");
  assert.equal(fileName(0xef53, 2n, "/etc/passwd", false), "/etc/passwd");
  assert.equal(fileName(0xef53, 2n, "/very/long", true), "/very/long…");
});
