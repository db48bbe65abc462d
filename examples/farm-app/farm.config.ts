// FARM build configuration: see the config reference in the repository's README.
export default {
  appName: 'farm-app',
  version: '1.0.0',
  frontend: { root: 'apps/web' },
  backend: { root: 'apps/api', app: 'main:app' },
  // Model configs come from a running Ollama (a warning when none answers); the pull script and
  // ai-config.json are always written.
  ai: {
    providers: { ollama: { models: ['llama3.2'], defaultModel: 'llama3.2', timeoutMs: 3000, retries: 0 } },
  },
  // Dockerfiles, docker-compose.yml, Kubernetes manifests and deploy scripts. Set `build: true` to
  // build the images through a running Docker engine.
  docker: { build: false, generateK8s: true, environment: { FARM_OLLAMA_URL: 'http://ollama:11434' } },
};
