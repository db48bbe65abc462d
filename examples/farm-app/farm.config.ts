export default {
  appName: 'farm-app',
  version: '1.0.0',
  frontend: { root: 'apps/web' },
  backend: { root: 'apps/api', app: 'main:app' },
};
