import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AuditSchema,
  ConfigSchema,
  defineConfig,
  GroupRepositorySchema,
  HostedRepositorySchema,
  ListenerSchema,
  MetricsSchema,
  NotificationSchema,
  ProxyRepositorySchema,
  parseDuration,
  parseSize,
  S3BlobStoreSchema,
  SecuritySchema,
  toConfigJsonSchema,
} from '../../schema/index.ts';
import { generate, isSchemaCurrent, TYPES_FILE } from '../../scripts/gen-schema.ts';

const root = join(import.meta.dirname, '..', '..');

describe('primitives', () => {
  it('parses durations to milliseconds (numbers are seconds)', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration(90)).toBe(90_000);
  });

  it('parses sizes to bytes', () => {
    expect(parseSize('16MiB')).toBe(16 * 1024 * 1024);
    expect(parseSize('5MB')).toBe(5_000_000);
    expect(parseSize(1024)).toBe(1024);
  });
});

describe('ConfigSchema', () => {
  it('fills defaults everywhere', () => {
    const config = ConfigSchema.parse({
      repositories: [{ name: 'p', type: 'proxy', remote: { url: 'https://x.test' } }],
    });
    expect(config.blobStores).toEqual([{ name: 'default', type: 'file', path: './data' }]);
    expect(config.repositories[0]).toEqual({
      name: 'p',
      type: 'proxy',
      online: true,
      blobStore: 'default',
      anonymous: [],
      remote: { url: 'https://x.test', timeout: '60s', mirrorsFirst: true },
      metadataMaxAge: '24h',
      negativeCacheTtl: '24h',
      offline: false,
    });
    expect(config.security.token).toEqual({ enabled: true, issuer: 'regctl', service: 'regctl', ttl: '5m' });
  });

  it('defineConfig is the identity, typed', () => {
    const input = { repositories: [] };
    expect(defineConfig(input)).toBe(input);
  });
});

describe('generated files', () => {
  it('schema/config.schema.json matches the zod source (npm run gen)', async () => {
    const { schema } = await generate();
    expect(await isSchemaCurrent(schema), 'schema/config.schema.json is stale: run npm run gen').toBe(true);
  });

  it('schema/generated/config.d.ts matches the JSON Schema (npm run gen)', async () => {
    const { types } = await generate();
    expect(readFileSync(TYPES_FILE, 'utf8'), 'schema/generated/config.d.ts is stale: run npm run gen').toBe(types);
  });

  it('the JSON Schema describes the user-facing input (defaulted fields optional)', () => {
    const json = toConfigJsonSchema() as { properties: Record<string, unknown>; required?: string[] };
    expect(Object.keys(json.properties)).toEqual(
      expect.arrayContaining(['blobStores', 'repositories', 'listeners', 'security', 'httpProxy']),
    );
    expect(json.required ?? []).toEqual([]);
  });
});

function keysOf(schema: { shape: Record<string, unknown> }): string[] {
  return Object.keys(schema.shape);
}

describe('docs/configuration.md', () => {
  const docs = readFileSync(join(root, 'docs', 'configuration.md'), 'utf8');
  const sections: [string, string[]][] = [
    ['top level', keysOf(ConfigSchema)],
    ['hosted', keysOf(HostedRepositorySchema)],
    [
      'proxy',
      [
        ...keysOf(ProxyRepositorySchema).filter((k) => k !== 'remote'),
        ...keysOf(ProxyRepositorySchema.shape.remote).map((k) => `remote.${k}`),
      ],
    ],
    ['group', keysOf(GroupRepositorySchema)],
    ['s3', keysOf(S3BlobStoreSchema)],
    ['listener', keysOf(ListenerSchema)],
    ['security', keysOf(SecuritySchema).map((k) => `security.${k}`)],
    ['metrics', keysOf(MetricsSchema)],
    ['audit', keysOf(AuditSchema)],
    ['notifications', keysOf(NotificationSchema)],
  ];

  it.each(sections)('documents every %s field', (_, fields) => {
    const missing = fields.filter((field) => !docs.includes(`\`${field}\``));
    expect(missing).toEqual([]);
  });

  it('states the defaults the schema applies', () => {
    for (const value of [
      "'allowRedeploy'",
      "'24h'",
      "'60s'",
      "'5m'",
      "'16MiB'",
      "'us-east-1'",
      "'0.0.0.0'",
      "'default'",
    ]) {
      expect(docs).toContain(`\`${value}\``);
    }
  });
});
