/**
 * A private network namespace (`ip netns`, needs root) whose only interface is its own loopback:
 * servers started in it are unreachable from the test's namespace, except through a door this
 * helper opens. This is how a test proves traffic used a proxy: the upstream lives in the
 * namespace, and the only door is the proxy's port.
 *
 * A door (`expose`) is a listener on 127.0.0.1 of the test's namespace that relays each connection
 * over a Unix socket (files cross namespaces) to a relay inside (netns-relay.mjs), which connects
 * to the port on the namespace's loopback. The door counts the bytes and keeps the first bytes each
 * client sent, for tests that inspect a protocol's opening (a SOCKS5 `CONNECT`).
 *
 * `hosts` entries are seen by processes started in the namespace only (`ip netns exec` mounts
 * /etc/netns/NAME/hosts over /etc/hosts for them): a host name only the namespace can resolve.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireBinary, run, spawnLogged, stopChild, waitUntil } from './process.ts';

const RELAY = fileURLToPath(new URL('./netns-relay.mjs', import.meta.url));
/** How many bytes of each connection's client side a door keeps. */
const OPENING_BYTES = 1024;

/** A door into the namespace (see the module comment). */
export interface Door {
  /** The door's port on 127.0.0.1 of the test's namespace. */
  readonly port: number;
  /** Bytes relayed so far: client → inside, inside → client. */
  readonly bytes: { readonly sent: number; readonly received: number };
  /** The first bytes the client sent on each connection, in order of connection. */
  readonly openings: readonly Buffer[];
  close(): Promise<void>;
}

export interface NetNs {
  readonly name: string;
  /** Starts `command` inside the namespace, output appended to `logFile`. */
  spawn(command: string, args: readonly string[], logFile: string, env?: NodeJS.ProcessEnv): ChildProcess;
  /** Opens a door to `port` on the namespace's loopback. */
  expose(port: number): Promise<Door>;
  /** Removes the namespace, after stopping what was started in it. */
  close(): Promise<void>;
}

let created = 0;

/** Creates a namespace with its loopback up and, optionally, extra `hosts` lines for its processes. */
export async function createNetNs(dir: string, options: { hosts?: readonly string[] } = {}): Promise<NetNs> {
  const ip = requireBinary('ip', 'iproute2');
  const name = `regctl-${process.pid}-${++created}`;
  const etc = join('/etc/netns', name);
  await mkdir(etc, { recursive: true });
  await writeFile(
    join(etc, 'hosts'),
    ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback', ...(options.hosts ?? []), ''].join('\n'),
  );
  await run(ip, ['netns', 'add', name]);
  await run(ip, ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  const children: ChildProcess[] = [];
  const doors: Door[] = [];

  const spawnInside = (command: string, args: readonly string[], logFile: string, env?: NodeJS.ProcessEnv) => {
    const child = spawnLogged(ip, ['netns', 'exec', name, command, ...args], logFile, { env: env ?? process.env });
    children.push(child);
    return child;
  };

  return {
    name,
    spawn: spawnInside,
    async expose(port) {
      const socketPath = join(dir, `door-${port}-${doors.length}.sock`);
      spawnInside(process.execPath, [RELAY, socketPath, String(port)], join(dir, `relay-${port}.log`));
      await waitUntil(async () => existsSync(socketPath), `the relay to port ${port} in ${name}`, {
        timeoutMs: 10_000,
      });
      const door = await openDoor(socketPath);
      doors.push(door);
      return door;
    },
    async close() {
      await Promise.all(doors.splice(0).map((door) => door.close()));
      await Promise.all(children.splice(0).map((child) => stopChild(child, 'SIGTERM')));
      await run(ip, ['netns', 'delete', name]).catch(() => undefined);
      await rm(etc, { recursive: true, force: true });
    },
  };
}

async function openDoor(socketPath: string): Promise<Door> {
  const bytes = { sent: 0, received: 0 };
  const openings: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const index = openings.push(Buffer.alloc(0)) - 1;
    const inner = connect(socketPath);
    for (const socket of [client, inner]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => {
      bytes.sent += chunk.length;
      const kept = openings[index]!;
      if (kept.length < OPENING_BYTES) openings[index] = Buffer.concat([kept, chunk]).subarray(0, OPENING_BYTES);
    });
    inner.on('data', (chunk: Buffer) => {
      bytes.received += chunk.length;
    });
    client.pipe(inner).pipe(client);
    client.on('error', () => inner.destroy());
    inner.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    bytes,
    openings,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
