// One endpoint that mirrors four upstream registries for containerd on every Kubernetes node:
// containerd adds `?ns=<registry>` to each request, and `mirrors` routes it to the right proxy.
import { defineConfig, type RepositoryInput } from '../../schema/index.ts';

const proxy = (name: string, url: string): RepositoryInput => ({
  name,
  type: 'proxy',
  remote: { url },
  metadataMaxAge: '1h',
  negativeCacheTtl: '10m',
  anonymous: ['pull'],
});

export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [
    proxy('docker-hub', 'https://registry-1.docker.io'),
    proxy('gcr', 'https://gcr.io'),
    proxy('k8s', 'https://registry.k8s.io'),
    proxy('quay', 'https://quay.io'),
  ],
  listeners: [
    {
      host: '0.0.0.0',
      port: 5000,
      mirrors: { 'docker.io': 'docker-hub', 'gcr.io': 'gcr', 'registry.k8s.io': 'k8s', 'quay.io': 'quay' },
      // Also reachable as registry-mirror:5000/<repo>/<image> for clients that are not containerd.
      paths: ['docker-hub', 'gcr', 'k8s', 'quay'],
    },
  ],
});
