/**
 * Peers on 127.0.0.1 (port 0) that fail the way real networks do, for the tests of what a proxy
 * repository says when its upstream fails:
 * - {@link startRefusingProxy}: an outbound HTTP proxy that answers every `CONNECT` and every
 *   absolute-form request with one status (407 with a `Proxy-Authenticate` challenge), as a
 *   corporate proxy refuses a tunnel to a port it does not allow. It records the
 *   `Proxy-Authorization` values it was sent, so a test can prove credentials reached the proxy
 *   while checking that they appear nowhere else.
 * - {@link startSilentServer}: accepts connections and never sends a byte (a hung upstream).
 */
import { createServer, type Server, type Socket } from 'node:net';

/** Listens on a free loopback port; resolves with it. */
async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

export interface RefusingProxy {
  readonly url: string;
  readonly port: number;
  /** `METHOD target` of every request line received. */
  readonly requests: string[];
  /** Every `Proxy-Authorization` value received. */
  readonly authorizations: string[];
  stop(): Promise<void>;
}

const REASONS: Readonly<Record<number, string>> = {
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  502: 'Bad Gateway',
};

/** Starts the proxy; `status` is what it answers to everything (default 403). */
export async function startRefusingProxy(status = 403): Promise<RefusingProxy> {
  const requests: string[] = [];
  const authorizations: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const [requestLine = '', ...lines] = head.slice(0, end).split('\r\n');
      head = head.slice(end + 4);
      requests.push(requestLine.split(' ').slice(0, 2).join(' '));
      for (const line of lines) {
        const match = /^proxy-authorization:\s*(.*)$/i.exec(line);
        if (match) authorizations.push(match[1]!);
      }
      const challenge = status === 407 ? 'Proxy-Authenticate: Basic realm="proxy"\r\n' : '';
      socket.end(
        `HTTP/1.1 ${status} ${REASONS[status] ?? 'Refused'}\r\n${challenge}Content-Length: 0\r\nConnection: close\r\n\r\n`,
      );
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    authorizations,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A TCP server on 127.0.0.1 that accepts connections and never sends a byte: an upstream that
 * hangs, for timeout tests. `connections` counts what it accepted.
 */
export async function startSilentServer(): Promise<{
  readonly url: string;
  readonly port: number;
  connections(): number;
  stop(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: () => accepted,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
