// Like minimal, but blobs and metadata live in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW),
// so several identical replicas can serve the same content. Everything secret comes from the env.
import { defineConfig } from '../../schema/index.ts';

export default defineConfig({
  blobStores: [
    {
      name: 's3',
      type: 's3',
      bucket: { env: 'S3_BUCKET' },
      endpoint: { env: 'S3_ENDPOINT' },
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: { env: 'S3_ACCESS_KEY' }, secretAccessKey: { env: 'S3_SECRET_KEY' } },
    },
  ],
  repositories: [{ name: 'private', type: 'hosted', blobStore: 's3', anonymous: ['pull', 'push', 'delete'] }],
  listeners: [{ host: '127.0.0.1', port: Number(process.env.PORT ?? 5000), repository: 'private' }],
});
