/**
 * Listener schema: an address:port and its routes. Requests reach a repository by containerd
 * mirror namespace (`?ns=`), virtual host, first path segment, or the default repository.
 */
import { z } from 'zod';
import { NameSchema } from './primitives.ts';

const RouteMapSchema = z.record(z.string().min(1), NameSchema);

/** One bound address and its route table. */
export const ListenerSchema = z.strictObject({
  host: z.string().min(1).default('0.0.0.0').describe('Address to bind'),
  port: z.number().int().describe('TCP port, 1-65535'),
  repository: NameSchema.optional().describe('Default repository: /v2/<image>/... goes to it'),
  paths: z
    .union([z.array(NameSchema), RouteMapSchema])
    .default([])
    .describe('Path-prefix routes: ["repo"] routes /v2/repo/<image>; { prefix: "repo" } names the prefix'),
  virtualHosts: RouteMapSchema.default({}).describe('Host header (without port) → repository'),
  mirrors: RouteMapSchema.default({}).describe('containerd mirror namespace (?ns=docker.io) → repository'),
  tls: z
    .strictObject({
      cert: z.string().min(1).describe('PEM certificate chain file, relative to the config file'),
      key: z.string().min(1).describe('PEM private key file, relative to the config file'),
    })
    .optional(),
});

export type ListenerInput = z.input<typeof ListenerSchema>;
export type ListenerConfig = z.output<typeof ListenerSchema>;
