/**
 * Free loopback ports for servers started by tests and benchmarks.
 *
 * Tests never bind a fixed port: other engineers run suites on the same machine at the same time.
 * A port found here is free at the moment of the call; the caller binds it soon after (a small race
 * that a retry in the caller, not a lock, handles best).
 */
import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/**
 * A loopback port nothing listens on, for configs that must name a server which must never be
 * reached (the `docker.io` fallback of podman, containerd and dockerd): any request fails fast with
 * ECONNREFUSED instead of leaving the machine.
 */
export async function deadPort(): Promise<number> {
  return freePort();
}
