'use strict';
// Health carries a backend's telemetry (docs/telemetry.md) and stays
// {"ok": true} for a backend without it.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const rtt = require('../rtt_driver.js');

class Observed extends rtt.DirBackend {
  telemetry() {
    return { routes: [{ from: 'a', to: 'b', buckets: [{ le_us: 250, count: 7 }] }], queue_depth: 3 };
  }
}

test('Health reports routes and the queue depth', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rtt-telemetry-'));
  const driver = new rtt.Driver('t', root, new Observed(root));
  assert.deepStrictEqual(driver.handle('Health', {}), {
    ok: true,
    routes: [{ from: 'a', to: 'b', buckets: [{ le_us: 250, count: 7 }] }],
    queue_depth: 3,
  });
  const plain = new rtt.Driver('t', root, new rtt.DirBackend(root));
  assert.deepStrictEqual(plain.handle('Health', {}), { ok: true });
  fs.rmSync(root, { recursive: true });
});
