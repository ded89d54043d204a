// Write whole buffers to a file descriptor without blocking the event loop: writes run on the
// libuv thread pool (one at a time per caller), partial writes are completed, and EAGAIN from
// a non-blocking pipe is retried after a short pause.

import { write } from "node:fs";
import { sleep } from "./output.js";

function writeOnce(fd: number, buf: Buffer, offset: number): Promise<number> {
  return new Promise((resolve, reject) => {
    write(fd, buf, offset, buf.length - offset, null, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

export async function writeAll(fd: number, buf: Buffer): Promise<void> {
  let off = 0;
  let pause = 1;
  while (off < buf.length) {
    try {
      off += await writeOnce(fd, buf, off);
      pause = 1;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      await sleep(pause);
      pause = Math.min(pause * 2, 100);
    }
  }
}
