'use strict';
// The shared protocol-1 vectors (sdk/vectors, README there) against this SDK.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const rtt = require('../rtt_driver.js');

const VECTORS = process.env.RTT_VECTORS || path.join(__dirname, '..', '..', 'vectors');

function matches(expected, actual) {
  if (expected && typeof expected === 'object' && !Array.isArray(expected)) {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const keys = Object.keys(expected);
    if (keys.length === 1 && keys[0] === 'code') {
      return Object.keys(actual).length === 2 && actual.code === expected.code
        && typeof actual.message === 'string' && actual.message !== '';
    }
    return keys.length === Object.keys(actual).length && keys.every((k) => k in actual && matches(expected[k], actual[k]));
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((v, i) => matches(v, actual[i]));
  }
  return expected === actual;
}

test('every shared vector is answered as written', () => {
  const files = fs.readdirSync(VECTORS).filter((f) => f.endsWith('.json')).sort();
  assert.ok(files.length >= 7, 'the vectors are missing');
  for (const file of files) {
    const vector = JSON.parse(fs.readFileSync(path.join(VECTORS, file), 'utf8'));
    const segments = [{ input: [], expected: [], oversized: false }];
    for (const step of vector.steps) {
      const segment = segments[segments.length - 1];
      if ('restart' in step) segments.push({ input: [], expected: [], oversized: false });
      else if ('oversized_line' in step) {
        segment.input.push(Buffer.alloc(rtt.MAX_LINE + 1, 'x'), Buffer.from('\n'));
        segment.oversized = true;
      } else {
        const line = 'request' in step ? JSON.stringify(step.request) : step.line;
        segment.input.push(Buffer.from(line + '\n'));
        segment.expected.push(step.response);
      }
    }
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rtt-vectors-'));
    try {
      segments.forEach((segment, index) => {
        const driver = new rtt.Driver('vectors', root, new rtt.DirBackend(root));
        const { output, error } = rtt.serveBuffer(driver, Buffer.concat(segment.input));
        assert.strictEqual(error !== null, segment.oversized, `${file}: segment ${index}: ${error}`);
        const lines = output === '' ? [] : output.split('\n').slice(0, -1);
        assert.strictEqual(lines.length, segment.expected.length, `${file}: segment ${index}: ${output}`);
        lines.forEach((line, i) => {
          const actual = JSON.parse(line);
          assert.deepStrictEqual(Object.keys(actual), ['id', 'result', 'error'], line);
          assert.ok(matches(segment.expected[i], actual), `${file}:\n  expected ${JSON.stringify(segment.expected[i])}\n  actual   ${line}`);
        });
      });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
});
