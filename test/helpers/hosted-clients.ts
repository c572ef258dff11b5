/**
 * Where every client end-to-end test starts: `regctl serve` of a hosted config (anonymous by
 * default), the skopeo/podman sandbox, and an OCI layout holding the test's images — each in a temp
 * dir of the caller's `TmpDirs`, so its `cleanup()` removes them.
 */
import { type ContainersTools, createContainersTools } from './clients.ts';
import { openHostedConfig } from './hosted-configs.ts';
import { type Image, type ImageIndex, writeOciLayout } from './oci-image.ts';
import { type RegctlServer, startRegctl, type TestConfig } from './regctl-server.ts';
import type { TmpDirs } from './tmp.ts';

export interface HostedClients {
  readonly server: RegctlServer;
  readonly tools: ContainersTools;
  /** The OCI layout: `oci:${layout}:REF` for each key of `images`. */
  readonly layout: string;
}

/**
 * Starts regctl with `config` (default {@link openHostedConfig}) and `env`, sets up the client
 * sandbox and writes `images` as an OCI layout. Stops the server again if a later step fails.
 */
export async function startHostedClients(
  dirs: TmpDirs,
  images: Readonly<Record<string, Image | ImageIndex>>,
  options: { config?: TestConfig; env?: NodeJS.ProcessEnv } = {},
): Promise<HostedClients> {
  const server = await startRegctl({
    dir: await dirs.make(),
    config: options.config ?? openHostedConfig(),
    ...(options.env ? { env: options.env } : {}),
  });
  try {
    const tools = await createContainersTools(await dirs.make());
    const layout = await dirs.make();
    await writeOciLayout(layout, images);
    return { server, tools, layout };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
