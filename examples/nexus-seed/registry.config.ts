// A typical Nexus 3 docker setup, declared: a hosted repository on its own blob store, Docker Hub
// and gcr.io proxies, and a group on port 80 that users log in to. The same config is in
// registry.config.yaml; both compile to the same plan.
import { defineConfig } from '../../schema/index.ts';

export default defineConfig({
  blobStores: [
    { name: 'default', type: 'file', path: './data/default' },
    { name: 'docker-private', type: 'file', path: './data/docker-private' },
  ],
  repositories: [
    {
      name: 'docker-private',
      type: 'hosted',
      blobStore: 'docker-private',
      deploymentPolicy: 'disableRedeploy',
    },
    {
      name: 'docker-hub',
      type: 'proxy',
      remote: {
        url: 'https://registry-1.docker.io',
        index: 'docker-hub',
        auth: { username: { env: 'DOCKERHUB_USERNAME' }, password: { env: 'DOCKERHUB_TOKEN' } },
      },
      metadataMaxAge: '24h',
      negativeCacheTtl: '24h',
    },
    { name: 'google-containers', type: 'proxy', remote: { url: 'https://gcr.io' }, metadataMaxAge: '6h' },
    {
      name: 'registry',
      type: 'group',
      members: ['docker-private', 'docker-hub', 'google-containers'],
      writableMember: 'docker-private',
    },
  ],
  listeners: [{ host: '0.0.0.0', port: 80, repository: 'registry' }],
  security: {
    realm: 'Sonatype Nexus Repository Manager',
    users: [
      { name: 'ci', password: { env: 'CI_PASSWORD' }, roles: ['developer'] },
      { name: 'reader', password: { env: 'READER_PASSWORD' }, roles: ['reader'] },
    ],
    roles: {
      developer: [
        { repositories: ['registry', 'docker-private'], actions: ['pull', 'push'] },
        { repositories: ['docker-*', 'google-containers'], actions: ['pull'] },
      ],
      reader: [{ repositories: ['*'], actions: ['pull'] }],
    },
    token: { enabled: true, ttl: '5m', signingKey: { env: 'REGISTRY_TOKEN_KEY' } },
  },
  httpProxy: { url: 'http://proxy.internal.example:3128', noProxy: ['localhost', '127.0.0.1', '.internal.example'] },
});
