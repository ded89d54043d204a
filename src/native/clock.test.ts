// BootClock converts bpf_ktime_get_boot_ns() timestamps to wall-clock time (no root needed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BootClock, clockOffsets } from './clock.js';
import { addonPath } from './addon.js';

function addonMissing(): string | undefined {
  try {
    addonPath();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

test('clockOffsets samples CLOCK_REALTIME and CLOCK_BOOTTIME together', (t) => {
  const why = addonMissing();
  if (why !== undefined) return t.skip(why);
  const c = clockOffsets();
  const nowMs = Date.now();
  assert.ok(Math.abs(Number(c.realtimeNs / 1_000_000n) - nowMs) < 1000, 'realtime is wall time');
  assert.ok(c.boottimeNs >= c.monotonicNs - 1_000_000n, 'boottime >= monotonic (suspend time added)');
  assert.ok(c.boottimeNs < c.realtimeNs);
});

test('BootClock maps boot ns to wall time', (t) => {
  const why = addonMissing();
  if (why !== undefined) return t.skip(why);
  const c = clockOffsets();
  const clock = new BootClock(c);
  assert.equal(clock.wallNs(c.boottimeNs), c.realtimeNs);
  assert.ok(Math.abs(clock.wallMs(Number(c.boottimeNs)) - Number(c.realtimeNs) / 1e6) < 0.01);
  const later = clockOffsets();
  assert.ok(Math.abs(Number(clock.wallNs(later.boottimeNs) - later.realtimeNs)) < 5_000_000, 'stable offset');
});
