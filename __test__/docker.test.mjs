// End to end with a real Docker engine: `farm build` on a copy of the example app builds the
// production image from the build's outputs (dist/web, dist/api), checks it and smoke-runs it
// (--network none); then the image is run here: /health answers 200 from inside the container and
// / serves the built index.html with dist/web's hashed asset names.
//
// Needs the engine (.ci/docker.sh start_docker) and the Python base image of .ci/base-images.sh.
// In CI (CI=true, or FARM_REQUIRE_DOCKER=1 as .ci/run sets it) a missing engine or base image fails
// the test instead of skipping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FARM, copyExample, walk, sleep } from './helpers.mjs';

const PYTHON_IMAGE = 'farm-base/python:3.11-bookworm';
const IMAGE = 'farm-docker-e2e:1.0.0';
const SECRET = 'tok-SECRET-e2e-docker-5150';

const docker = (...args) => spawnSync('docker', args, { encoding: 'utf8', timeout: 120_000 });

/**
 * Why the engine tests cannot run (`null` when they can). In CI (`CI=true`, as CI services set it)
 * or with FARM_REQUIRE_DOCKER set (.ci/run) a missing engine or base image is a failure, never a skip.
 */
function engineMissing(env = process.env) {
  const sock = (env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '');
  let reason = null;
  if (!existsSync(sock)) reason = `Docker socket ${sock} absent (source .ci/docker.sh; start_docker)`;
  else if (docker('image', 'inspect', PYTHON_IMAGE).status !== 0) reason = `base image ${PYTHON_IMAGE} missing (bash .ci/base-images.sh)`;
  if (reason && env.FARM_REQUIRE_DOCKER) assert.fail(`FARM_REQUIRE_DOCKER is set: ${reason}`);
  if (reason && env.CI === 'true') assert.fail(`CI=true: ${reason}`);
  return reason;
}

test('docker: a missing engine skips locally, and fails with CI=true or FARM_REQUIRE_DOCKER', () => {
  const gone = { DOCKER_HOST: 'unix:///nonexistent/farm-docker.sock' };
  assert.match(engineMissing(gone), /Docker socket \/nonexistent\/farm-docker\.sock absent/);
  assert.equal(engineMissing({ ...gone, CI: 'false' }), engineMissing(gone));
  assert.throws(() => engineMissing({ ...gone, CI: 'true' }), /CI=true: Docker socket/);
  assert.throws(() => engineMissing({ ...gone, FARM_REQUIRE_DOCKER: '1' }), /FARM_REQUIRE_DOCKER is set/);
});

/** GET `urlPath` on the app from inside the container: [status, body]. */
function getInside(container, urlPath) {
  const code = [
    'import urllib.request, urllib.error',
    'try:',
    `    r = urllib.request.urlopen('http://127.0.0.1:8000${urlPath}', timeout=5)`,
    '    print(r.status); print(r.read().decode(), end="")',
    'except urllib.error.HTTPError as e:',
    '    print(e.code)',
  ].join('\n');
  const r = docker('exec', container, 'python', '-c', code);
  if (r.status !== 0) return [0, r.stderr];
  const nl = r.stdout.indexOf('\n');
  return [Number(r.stdout.slice(0, nl)), r.stdout.slice(nl + 1)];
}

test('docker: the production image is the build outputs, and it runs', async (t) => {
  const missing = engineMissing();
  if (missing) return t.skip(`SKIPPED: ${missing}`);
  const dir = copyExample();
  writeFileSync(
    path.join(dir, 'farm.config.ts'),
    `export default {
      appName: 'farm-docker-e2e', version: '1.0.0',
      frontend: { root: 'apps/web' },
      backend: { root: 'apps/api', app: 'main:app' },
      docker: {
        build: true, smoke: true, tagLatest: false,
        baseImages: { python: '${PYTHON_IMAGE}', node: 'node:20-slim' },
        environment: { LOG_LEVEL: 'info', API_TOKEN: '${SECRET}' },
      },
    };\n`,
  );
  docker('rmi', '-f', '--no-prune', IMAGE);
  const r = spawnSync(process.execPath, [FARM, 'build', '--json'], { cwd: dir, encoding: 'utf8', timeout: 600_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const result = JSON.parse(r.stdout);
  const dockerTask = result.tasks.find((x) => x.name === 'docker');
  assert.equal(dockerTask.status, 'succeeded', JSON.stringify(dockerTask));
  const img = result.artifacts.find((a) => a.type === 'docker-image' && a.name === 'app');
  assert.ok(img, JSON.stringify(result.artifacts.map((a) => a.type)));
  const size = Number(docker('image', 'inspect', '-f', '{{.Size}}', IMAGE).stdout.trim());
  assert.equal(img.metadata.imageSize, size, 'image size in the artifact metadata');
  assert.equal(img.size, size);
  assert.equal(img.metadata.checks.passed, true);
  assert.equal(img.metadata.checks.staticFiles, walk(path.join(dir, 'dist/web')).length);
  assert.ok(img.metadata.checks.pycFiles > 0);
  assert.equal(img.metadata.smoke.healthy, true);
  assert.equal(img.metadata.smoke.network, 'none');
  // The builder that built it, and why (docker.builder defaults to auto: BuildKit when the engine
  // offers it); dist/Dockerfile is the variant that was built.
  assert.ok(['classic', 'buildkit'].includes(img.metadata.builder));
  assert.match(img.metadata.builderReason, /docker\.builder is "auto"/);
  assert.ok(['classic', 'buildkit'].includes(img.metadata.engineDefaultBuilder));
  const cacheMount = readFileSync(path.join(dir, 'dist/Dockerfile'), 'utf8')
    .includes('RUN --mount=type=cache,target=/root/.cache/pip');
  assert.equal(cacheMount, img.metadata.builder === 'buildkit', img.metadata.builderReason);
  assert.ok(img.metadata.pythonDeps.wheels >= 6, JSON.stringify(img.metadata.pythonDeps));

  // Nothing was built twice: the Dockerfile has no npm/vite step and copies the outputs.
  const dockerfile = readFileSync(path.join(dir, 'dist/Dockerfile'), 'utf8');
  assert.ok(!/npm|vite/.test(dockerfile), dockerfile);
  assert.match(dockerfile, /COPY web\/ \.\/static\//);
  assert.match(dockerfile, /COPY api\/ \.\/api\//);
  // No secret in any layer's command.
  const history = docker('history', '--no-trunc', '--format', '{{.CreatedBy}}', IMAGE);
  assert.equal(history.status, 0, history.stderr);
  assert.ok(!history.stdout.includes(SECRET), 'the secret is in the image history');

  // Run it without network.
  const run = docker('run', '-d', '--network', 'none', IMAGE);
  assert.equal(run.status, 0, run.stderr);
  const id = run.stdout.trim();
  try {
    let health = [0, ''];
    for (let i = 0; i < 120 && health[0] !== 200; i++) {
      health = getInside(id, '/health');
      if (health[0] !== 200) await sleep(250);
    }
    assert.equal(health[0], 200, health[1]);
    assert.equal(JSON.parse(health[1]).status, 'ok');
    const [status, html] = getInside(id, '/');
    assert.equal(status, 200, html);
    const built = readFileSync(path.join(dir, 'dist/web/index.html'), 'utf8');
    assert.equal(html, built, '/ serves the built index.html');
    const assets = (s) => [...s.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]).sort();
    const refs = assets(html);
    assert.ok(refs.length >= 2, html);
    const onDisk = walk(path.join(dir, 'dist/web')).filter((f) => f.startsWith('assets/'));
    for (const ref of refs) assert.ok(onDisk.includes(ref), `${ref} is one of dist/web's hashed assets`);
    const [jsStatus, js] = getInside(id, `/${refs.find((x) => x.endsWith('.js'))}`);
    assert.equal(jsStatus, 200);
    assert.equal(js, readFileSync(path.join(dir, 'dist/web', refs.find((x) => x.endsWith('.js'))), 'utf8'));
    const inspect = JSON.parse(docker('inspect', id).stdout)[0];
    assert.equal(inspect.HostConfig.NetworkMode, 'none');
    assert.equal(inspect.Config.User, '10001:10001');
  } finally {
    docker('rm', '-f', id);
    docker('rmi', '-f', '--no-prune', IMAGE);
  }
});
