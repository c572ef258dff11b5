// Runs inside a network namespace (`ip netns exec NAME node netns-relay.mjs SOCKET PORT`): every
// connection to the Unix socket SOCKET is relayed to 127.0.0.1:PORT of the namespace. A Unix socket
// is a file, so it crosses namespaces; the other end is test/helpers/netns.ts's `expose`.
import { rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const [socketPath, port] = process.argv.slice(2);
rmSync(socketPath, { force: true });
const server = createServer((client) => {
  const inner = connect(Number(port), '127.0.0.1');
  client.pipe(inner).pipe(client);
  client.on('error', () => inner.destroy());
  inner.on('error', () => client.destroy());
});
server.listen(socketPath);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
