// node_stall.js — node's http.get (libuv) fetching pages over many connections
// while measuring how long the event loop is stalled.
//
//   node node_stall.js HOST PORT N CONC PATH [MARKER] [--timeout MS]
//
// N fetches of http://HOST:PORT/PATH<i>, at most CONC at a time, each on a new
// connection (agent: false: no keep-alive reuse, so every fetch is a connect).
// Two stall measures run in the same loop:
//   - a 1 ms setInterval: the loop's lag is how much later than 1 ms after the
//     previous tick a tick runs; a fetch's stall is the largest lag seen while
//     that fetch was in flight;
//   - perf_hooks.monitorEventLoopDelay (resolution 1 ms): node's own histogram.
// Output: one JSON line (stalls_ms: every fetch's stall, in completion order;
// stall_ms, loop_lag_ms, eld_ms, fetch_ms: max/p50/p99).  Exit 0 iff every fetch returned status 200, a body of
// the announced Content-Length and, if given, MARKER in the body; 1 otherwise.
'use strict';
const http = require('http');
const os = require('os');
const pathLib = require('path');
const { monitorEventLoopDelay } = require('perf_hooks');

const args = process.argv.slice(2);
let timeoutMs = 60000;
const pos = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--timeout' && i + 1 < args.length) timeoutMs = Number(args[++i]);
  else pos.push(args[i]);
}
if (pos.length < 5 || pos.length > 6) {
  console.error('usage: node node_stall.js HOST PORT N CONC PATH [MARKER] [--timeout MS]');
  process.exit(2);
}
const host = pos[0];
const port = Number(pos[1]);
const n = Number(pos[2]);
const conc = Number(pos[3]);
const path = pos[4];
const marker = pos[5] || '';
if (!(n >= 1 && conc >= 1 && port > 0 && timeoutMs > 0)) {
  console.error('node_stall: bad arguments');
  process.exit(2);
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const inFlight = new Set();
const stalls = [];
const fetchMs = [];
const lags = [];
const errors = [];
let ok = 0;
let failed = 0;
let next = 0;
let reported = false;
let eld, t0, last, ticker, guard;

function pct(sorted, q) {
  if (!sorted.length) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((q / 100) * sorted.length)));
  return sorted[rank - 1];
}

function stats(v) {
  const s = v.slice().sort((a, b) => a - b);
  const r = (x) => Math.round(x * 1000) / 1000;
  return { max: r(s.length ? s[s.length - 1] : 0), p50: r(pct(s, 50)), p99: r(pct(s, 99)) };
}

function tick() {
  const t = nowMs();
  const lag = Math.max(0, t - last - 1);
  last = t;
  lags.push(lag);
  for (const f of inFlight) if (lag > f.stall) f.stall = lag;
}

function done(f, err, body, res) {
  if (f.finished) return;
  f.finished = true;
  inFlight.delete(f);
  stalls.push(f.stall);
  fetchMs.push(nowMs() - f.start);
  let why = err;
  if (!why && res.statusCode !== 200) why = 'status ' + res.statusCode;
  if (!why && res.headers['content-length'] !== undefined &&
      Number(res.headers['content-length']) !== body.length) why = 'body length differs from Content-Length';
  if (!why && marker && !body.includes(marker)) why = 'marker missing from the body';
  if (why) {
    failed++;
    if (errors.length < 8) errors.push('fetch ' + f.index + ': ' + why);
  } else {
    ok++;
  }
  pump();
}

function start(index) {
  const f = { index, start: nowMs(), stall: 0, finished: false };
  inFlight.add(f);
  const req = http.get({ host, port, path: path + index, agent: false,
                         headers: { 'User-Agent': 'node_stall', Connection: 'close' } }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => done(f, null, Buffer.concat(chunks), res));
    res.on('error', (e) => done(f, e.message));
  });
  req.on('error', (e) => done(f, e.code || e.message));
}

function report() {
  reported = true;
  clearInterval(ticker);
  clearTimeout(guard);
  eld.disable();
  const ms = (ns) => Math.round(ns / 1e3) / 1e3;
  const out = {
    n, concurrency: conc, ok, failed, total_ms: Math.round((nowMs() - t0) * 1000) / 1000,
    stalls_ms: stalls.map((x) => Math.round(x * 1000) / 1000),
    stall_ms: stats(stalls),
    loop_lag_ms: stats(lags),
    eld_ms: { max: ms(eld.max), p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)) },
    fetch_ms: stats(fetchMs),
    errors,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exitCode = ok === n ? 0 : 1;
}

function pump() {
  while (inFlight.size < conc && next < n) start(next++);
  if (ok + failed === n && !reported) report();
}

function onTimeout() {
  const never = n - next;
  next = n; // start nothing more
  failed += never;
  if (never && errors.length < 8) errors.push(never + ' fetches never started');
  for (const f of Array.from(inFlight)) done(f, 'timed out');
  if (!reported) report();
  process.exit(1);
}

function measure() {
  eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  t0 = last = nowMs();
  ticker = setInterval(tick, 1);
  guard = setTimeout(onTimeout, timeoutMs);
  pump();
}

// Not measured: node compiles its HTTP client and parser on first use, a
// stall of several ms that no interposer causes.  A few GETs over a unix
// socket (which every interposer passes through untouched) do that first.
function warmUp(then) {
  const sock = pathLib.join(os.tmpdir(), 'node_stall-' + process.pid + '.sock');
  const srv = http.createServer((q, r) => r.end('warm'));
  let left = 3;
  const one = () => http.get({ socketPath: sock, path: '/', agent: false }, (r) => {
    r.resume();
    r.on('end', () => (--left ? one() : srv.close(then)));
  }).on('error', () => srv.close(then));
  srv.on('error', () => then());
  srv.listen(sock, one);
}

warmUp(measure);
