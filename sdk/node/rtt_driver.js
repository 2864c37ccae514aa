'use strict';
// Write an rtt driver in JavaScript or TypeScript (Node, no dependencies).
//
// A driver carries rtt's plans to the systems that run agents. It speaks
// protocol 1 (SPEC section 8, docs/drivers.md) over stdin and stdout. This
// module holds the whole protocol -- line framing with the 1 MiB cap, the
// envelopes, fencing by epoch, granted hosts and capabilities, durable
// two-phase transactions -- so a driver only says how to stage, commit,
// abort and read placements on its own system (a backend, like DirBackend):
//
//   const rtt = require('rtt-driver');
//   const root = rtt.rootFromEnv('my-driver');
//   rtt.run(new rtt.Driver('my-driver', root, new rtt.DirBackend(root)));
//
// The same engine exists in every SDK; sdk/vectors holds the exchanges all
// of them answer alike. Checks run in one order: parameters parse
// (bad_request), a Tx has a session (not_open), the epoch is not below the
// highest seen (stale_epoch; a higher one is made durable first), the
// capability and hosts were granted (capability_denied), then the
// transaction's state decides. Types: rtt_driver.d.ts.

const fs = require('fs');
const path = require('path');

const PROTOCOL = 1;
const MAX_LINE = 1 << 20;
const PLACEMENTS_WRITE = 'placements.write';
const JOURNAL_DIR = '.rtt-driver';
const METHODS = new Set(['Probe', 'Open', 'Tx', 'Rx', 'Health', 'Close']);
const SAFE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** A protocol error: a snake_case code and a message for people. */
class Refusal extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
    this.detail = message;
  }
}

/** The input broke the framing (a line over 1 MiB, not UTF-8, cut off). */
class FramingError extends Error {}

// --- durable files -----------------------------------------------------------

function syncDir(dir) {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

function writeSynced(file, data) {
  const fd = fs.openSync(file, 'w');
  try { fs.writeSync(fd, data); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

function writeAtomic(file, data) {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp.${process.pid}`);
  writeSynced(temp, data);
  fs.renameSync(temp, file);
  syncDir(path.dirname(file));
}

function readJson(file) {
  let text;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    if (e.code === 'ENOENT') return null;
    throw e;
  }
  return JSON.parse(text);
}

const dump = (value) => JSON.stringify(value);

// --- parameters --------------------------------------------------------------

const bad = (message) => new Refusal('bad_request', message);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isUint = (v, max) => Number.isInteger(v) && v >= 0 && v <= max;

function string(params, key) {
  if (typeof params[key] !== 'string') throw bad(`\`${key}\` must be a string`);
  return params[key];
}

function epochOf(params) {
  if (!isUint(params.epoch, Number.MAX_SAFE_INTEGER)) throw bad('`epoch` must be a non-negative integer');
  return params.epoch;
}

function strings(params, key) {
  const value = params[key];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw bad(`\`${key}\` must be an array of strings`);
  return value.slice();
}

function safeName(what, name) {
  if (typeof name !== 'string' || !SAFE.test(name)) {
    throw bad(`${what} ${JSON.stringify(name)} is not a safe name ([A-Za-z0-9_-][A-Za-z0-9._-]{0,127})`);
  }
  return name;
}

function placements(params) {
  if (!isObject(params.hosts)) throw bad('`hosts` must be an object');
  const out = {};
  for (const [host, rows] of Object.entries(params.hosts)) {
    safeName('host', host);
    if (!Array.isArray(rows)) throw bad(`placements of ${host} must be an array`);
    out[host] = rows.map((row) => {
      const ok = isObject(row) && typeof row.agent === 'string'
        && isUint(row.numa, 2 ** 32 - 1) && isUint(row.replicas, 2 ** 32 - 1);
      if (!ok) throw bad(`a placement of ${host} must be {"agent": string, "numa": integer >= 0, "replicas": integer >= 0}`);
      return { agent: row.agent, numa: row.numa, replicas: row.replicas };
    });
  }
  return out;
}

const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const sortPlacements = (rows) =>
  rows.slice().sort((a, b) => compare(a.agent, b.agent) || a.numa - b.numa || a.replicas - b.replicas);

// --- backends ----------------------------------------------------------------

/**
 * Placements as files, in the layout of rtt's built-in dir driver:
 * <root>/<host>/placements.json holds {"plan", "placements"}; stage writes
 * placements.json.<txn> beside it, commit renames it into place. Start from
 * it, or replace it with calls to your own system. Every method may be
 * called again for the same transaction after a crash.
 */
class DirBackend {
  constructor(root) {
    this.root = root;
    this.capabilities = [PLACEMENTS_WRITE];
  }

  staged(host, txn) { return path.join(this.root, host, `placements.json.${txn}`); }

  /** Stage durably, apply nothing. Return null (yes) or a reason (no). */
  stage(txn, plan, hosts) {
    for (const [host, rows] of Object.entries(hosts)) {
      const dir = path.join(this.root, host);
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir, { recursive: true });
        syncDir(this.root);
      }
      writeSynced(this.staged(host, txn), dump({ plan, placements: rows }) + '\n');
      syncDir(dir);
    }
    return null;
  }

  commit(txn, hosts) {
    for (const host of hosts) {
      const staged = this.staged(host, txn);
      if (fs.existsSync(staged)) { // gone: renamed by a commit that crashed before its record
        fs.renameSync(staged, path.join(this.root, host, 'placements.json'));
        syncDir(path.join(this.root, host));
      }
    }
  }

  abort(txn, hosts) {
    for (const host of hosts) {
      const staged = this.staged(host, txn);
      if (fs.existsSync(staged)) {
        fs.unlinkSync(staged);
        syncDir(path.join(this.root, host));
      }
    }
  }

  read(host) {
    const current = readJson(path.join(this.root, host, 'placements.json'));
    return current ? current.placements : [];
  }

  healthy() {
    return fs.existsSync(this.root) && fs.statSync(this.root).isDirectory();
  }
}

// --- the engine --------------------------------------------------------------

/**
 * A protocol-1 driver: fencing, grants and the transaction journal
 * (<root>/.rtt-driver/: epoch.json, txns/<txn>.json with state preparing,
 * prepared, committed or aborted) over a backend.
 */
class Driver {
  constructor(name, root, backend) {
    this.name = name;
    this.backend = backend;
    this.journal = path.join(root, JOURNAL_DIR);
    fs.mkdirSync(path.join(this.journal, 'txns'), { recursive: true });
    const saved = readJson(path.join(this.journal, 'epoch.json'));
    this.epoch = saved ? saved.epoch : 0;
    this.session = null;
  }

  fence(epoch) {
    if (epoch < this.epoch) throw new Refusal('stale_epoch', `epoch ${epoch} is below ${this.epoch}: a newer coordinator has taken over`);
    if (epoch > this.epoch) {
      writeAtomic(path.join(this.journal, 'epoch.json'), dump({ epoch }) + '\n');
      this.epoch = epoch;
    }
  }

  recordPath(txn) { return path.join(this.journal, 'txns', `${txn}.json`); }

  save(txn, record) { writeAtomic(this.recordPath(txn), dump(record) + '\n'); }

  /** Answers one request: a result object, or throws a Refusal. */
  handle(method, params) {
    switch (method) {
      case 'Probe':
        return { protocol: PROTOCOL, name: this.name, capabilities: (this.backend.capabilities || [PLACEMENTS_WRITE]).slice(), epoch: this.epoch };
      case 'Open': {
        const plan = string(params, 'plan');
        const epoch = epochOf(params);
        const capabilities = strings(params, 'capabilities');
        const hosts = strings(params, 'hosts').map((h) => safeName('host', h));
        this.fence(epoch);
        this.session = { plan, capabilities, hosts };
        return {};
      }
      case 'Tx':
        return this.tx(params);
      case 'Rx': {
        const hosts = strings(params, 'hosts').map((h) => safeName('host', h));
        if (this.session) {
          for (const host of hosts) {
            if (!this.session.hosts.includes(host)) throw new Refusal('capability_denied', `host \`${host}\` was not granted`);
          }
        }
        const out = {};
        for (const host of hosts) out[host] = sortPlacements(this.backend.read(host));
        return { hosts: out };
      }
      case 'Health': {
        const answer = { ok: this.backend.healthy ? Boolean(this.backend.healthy()) : true };
        // Telemetry (docs/telemetry.md): {routes, queue_depth} seen since the last Health.
        const extra = this.backend.telemetry ? this.backend.telemetry() || {} : {};
        if (Array.isArray(extra.routes) && extra.routes.length > 0) answer.routes = extra.routes;
        if (extra.queue_depth !== undefined && extra.queue_depth !== null) answer.queue_depth = extra.queue_depth;
        return answer;
      }
      default: // Close
        return {};
    }
  }

  tx(params) {
    const phase = string(params, 'phase');
    const epoch = epochOf(params);
    const txn = safeName('txn', string(params, 'txn'));
    if (!['prepare', 'commit', 'abort'].includes(phase)) {
      throw bad(`\`phase\` must be "prepare", "commit" or "abort", not ${JSON.stringify(phase)}`);
    }
    const hosts = phase === 'prepare' ? placements(params) : null;
    if (!this.session) throw new Refusal('not_open', 'Tx before Open');
    this.fence(epoch);
    if (!this.session.capabilities.includes(PLACEMENTS_WRITE)) {
      throw new Refusal('capability_denied', `\`${PLACEMENTS_WRITE}\` was not granted`);
    }
    const record = readJson(this.recordPath(txn));
    if (phase === 'prepare') return this.prepare(txn, hosts, record);
    if (phase === 'commit') return this.commit(txn, record);
    return this.abort(txn, record);
  }

  prepare(txn, hosts, record) {
    const names = Object.keys(hosts).sort(compare);
    for (const host of names) {
      if (!this.session.hosts.includes(host)) throw new Refusal('capability_denied', `host \`${host}\` was not granted`);
    }
    const state = record ? record.state : null;
    if (state === 'prepared') return { vote: 'yes' };
    if (state === 'committed' || state === 'aborted') throw new Refusal('txn_conflict', `transaction ${txn} is already ${state}`);
    const next = { state: 'preparing', plan: this.session.plan, hosts: names };
    this.save(txn, next);
    const sorted = {};
    for (const host of names) sorted[host] = sortPlacements(hosts[host]);
    const reason = this.backend.stage(txn, this.session.plan, sorted);
    if (reason !== null && reason !== undefined) return { vote: 'no', reason: String(reason) };
    next.state = 'prepared';
    this.save(txn, next);
    return { vote: 'yes' };
  }

  commit(txn, record) {
    if (!record || record.state === 'preparing') throw new Refusal('unknown_txn', `transaction ${txn} was never prepared here`);
    if (record.state === 'committed') return {};
    if (record.state === 'aborted') throw new Refusal('txn_conflict', `transaction ${txn} was aborted`);
    this.backend.commit(txn, record.hosts);
    record.state = 'committed';
    this.save(txn, record);
    return {};
  }

  abort(txn, record) {
    // Never prepared here: record the abort, so a late prepare cannot stage.
    const current = record || { state: 'preparing', plan: '', hosts: [] };
    if (current.state === 'aborted') return {};
    if (current.state === 'committed') throw new Refusal('txn_conflict', `transaction ${txn} was committed`);
    this.backend.abort(txn, current.hosts);
    current.state = 'aborted';
    this.save(txn, current);
    return {};
  }
}

// --- the envelope and the loop -----------------------------------------------

/** The response to one request line (an object) and whether it was Close. */
function respond(driver, line) {
  const refuse = (id, code, message) => [{ id, result: null, error: { code, message } }, false];
  let request;
  try { request = JSON.parse(line); } catch (e) { return refuse('', 'bad_request', `not JSON: ${e.message}`); }
  if (!isObject(request)) return refuse('', 'bad_request', 'a request must be a JSON object');
  const id = request.id;
  if (typeof id !== 'string') return refuse('', 'bad_request', '`id` must be a string');
  if (typeof request.method !== 'string') return refuse(id, 'bad_request', '`method` must be a string');
  if (!isObject(request.params)) return refuse(id, 'bad_request', '`params` must be an object');
  if (!METHODS.has(request.method)) return refuse(id, 'unknown_method', `unknown method ${JSON.stringify(request.method)}`);
  try {
    return [{ id, result: driver.handle(request.method, request.params), error: null }, request.method === 'Close'];
  } catch (e) {
    if (e instanceof Refusal) return refuse(id, e.code, e.detail);
    return refuse(id, 'internal', String(e && e.message ? e.message : e));
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A line reader over chunks of input: feed() hands each response line to
 * write() and throws FramingError on a line over the cap or not UTF-8; end() says
 * whether the input stopped inside a line. `done` turns true after Close.
 */
class Session {
  constructor(driver) {
    this.driver = driver;
    this.pending = [];
    this.pendingBytes = 0;
    this.done = false;
  }

  feed(chunk, write) {
    let start = 0;
    while (!this.done) {
      const newline = chunk.indexOf(10, start);
      if (newline < 0) {
        this.pending.push(chunk.subarray(start));
        this.pendingBytes += chunk.length - start;
        if (this.pendingBytes > MAX_LINE) throw new FramingError(`request line longer than ${MAX_LINE} bytes`);
        break;
      }
      const bytes = Buffer.concat([...this.pending, chunk.subarray(start, newline)]);
      this.pending = [];
      this.pendingBytes = 0;
      start = newline + 1;
      if (bytes.length > MAX_LINE) throw new FramingError(`request line longer than ${MAX_LINE} bytes`);
      let text;
      try { text = utf8.decode(bytes); } catch (e) { throw new FramingError('request line is not UTF-8'); }
      const [response, close] = respond(this.driver, text);
      write(dump(response) + '\n');
      if (close) this.done = true;
    }
  }

  end() {
    if (!this.done && this.pendingBytes > 0) {
      throw new FramingError(`input ended inside a line (${this.pendingBytes} bytes without a newline)`);
    }
  }
}

/** Serves a whole input (a Buffer) at once: { output, error }. For tests. */
function serveBuffer(driver, input) {
  const session = new Session(driver);
  let output = '';
  try {
    session.feed(input, (line) => { output += line; });
    session.end();
    return { output, error: null };
  } catch (e) {
    if (e instanceof FramingError) return { output, error: e };
    throw e;
  }
}

/** RTT_DRIVER_ROOT (set by rtt apply and rtt driver test), else --root DIR, else .rtt/drivers/NAME. */
function rootFromEnv(name, argv = process.argv) {
  if (process.env.RTT_DRIVER_ROOT) return process.env.RTT_DRIVER_ROOT;
  const at = argv.indexOf('--root');
  if (at >= 0 && at + 1 < argv.length) return argv[at + 1];
  return path.join('.rtt', 'drivers', name);
}

/** The Unix socket to listen on instead of stdio: RTT_DRIVER_SOCKET (set by rtt driver test --socket), else --socket PATH; null for stdio. */
function socketFromEnv(argv = process.argv) {
  if (process.env.RTT_DRIVER_SOCKET) return process.env.RTT_DRIVER_SOCKET;
  const at = argv.indexOf('--socket');
  return at >= 0 && at + 1 < argv.length ? argv[at + 1] : null;
}

/**
 * A resident driver: listens on a Unix socket at `file` and serves one
 * connection at a time (others wait their turn), each until Close or its
 * end; a connection that breaks the framing is dropped. A socket file left
 * by a killed predecessor is replaced; one a live driver answers on is not.
 */
function listen(driver, file) {
  const net = require('net');
  const serveOne = (connection, next) => {
    const session = new Session(driver);
    const finish = () => {
      driver.session = null;
      next();
    };
    connection.on('data', (chunk) => {
      if (session.done) return;
      try {
        session.feed(chunk, (line) => connection.write(line));
      } catch (e) {
        process.stderr.write(`${driver.name}: dropping a connection: ${e.message}\n`);
        connection.destroy();
        return;
      }
      if (session.done) connection.end();
    });
    connection.once('close', finish);
    connection.on('error', () => {});
  };
  const waiting = [];
  let busy = false;
  const next = () => {
    busy = false;
    const connection = waiting.shift();
    if (connection) {
      busy = true;
      serveOne(connection, next);
      connection.resume();
    }
  };
  const start = () => {
    const server = net.createServer({ pauseOnConnect: true }, (connection) => {
      waiting.push(connection);
      if (!busy) next();
    });
    server.on('error', (e) => {
      process.stderr.write(`${driver.name}: cannot listen on ${file}: ${e.message}\n`);
      process.exit(1);
    });
    server.listen(file);
  };
  if (!fs.existsSync(file)) return start();
  const probe = net.connect(file);
  probe.once('connect', () => {
    process.stderr.write(`${driver.name}: another driver listens on ${file}\n`);
    process.exit(1);
  });
  probe.once('error', () => {
    fs.unlinkSync(file);
    start();
  });
}

/** Serves stdin and stdout until Close or the end of input, then exits; or listens on a socket (socketFromEnv). Logs go to stderr. */
function run(driver) {
  const file = socketFromEnv();
  if (file) return listen(driver, file);
  const session = new Session(driver);
  const stop = (code, why) => {
    if (why) process.stderr.write(`${driver.name}: stopping: ${why}\n`);
    process.stdin.pause();
    process.stdout.write('', () => process.exit(code));
  };
  process.stdin.on('data', (chunk) => {
    if (session.done) return;
    try {
      session.feed(chunk, (line) => process.stdout.write(line));
    } catch (e) {
      stop(1, e.message);
      return;
    }
    if (session.done) stop(0);
  });
  process.stdin.on('end', () => {
    try { session.end(); } catch (e) { stop(1, e.message); return; }
    stop(0);
  });
}

module.exports = {
  PROTOCOL, MAX_LINE, PLACEMENTS_WRITE, JOURNAL_DIR,
  Refusal, FramingError, DirBackend, Driver, Session,
  respond, serveBuffer, rootFromEnv, socketFromEnv, listen, run, writeAtomic, writeSynced, syncDir, readJson,
};
