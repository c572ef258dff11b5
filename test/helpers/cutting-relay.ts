/**
 * A TCP relay on 127.0.0.1 in front of an HTTP/1.1 server that fails the way a flaky network
 * does, for the tests of resumed upstream blob fetches:
 * - `cutAfterBytes` / `cuts`: a response whose body is longer than `cutAfterBytes` is cut (both
 *   sockets destroyed) right after that many body bytes, `cuts` times (then responses pass);
 *   `Infinity` cuts every such response.
 * - `stripRange`: the `Range` and `If-Range` request headers are removed on the way through, so the
 *   server answers a resume with the whole body (200), as an upstream without range support does.
 *
 * It parses just enough HTTP: request heads (GET/HEAD, no request bodies: what a proxy sends) and
 * response heads with a `Content-Length`; a chunked response stops the parsing on its connection
 * (it is passed through uncut). `requests` records each request line with its Range header.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface CuttingRelay {
  readonly url: string;
  readonly port: number;
  /** Body bytes after which a response is cut (when `cuts` > 0). */
  cutAfterBytes: number;
  /** Cuts left; decremented at each cut. */
  cuts: number;
  stripRange: boolean;
  /** `METHOD path` of every request, with ` range=<value>` when it carried (and we passed) one. */
  readonly requests: string[];
  /** Cuts made so far. */
  cutCount(): number;
  stop(): Promise<void>;
}

const HEAD_END = '\r\n\r\n';

/** Starts a relay to `127.0.0.1:targetPort`, cutting nothing until told. */
export async function startCuttingRelay(targetPort: number): Promise<CuttingRelay> {
  const sockets = new Set<Socket>();
  let made = 0;
  const relay: CuttingRelay = {
    url: '',
    port: 0,
    cutAfterBytes: Number.POSITIVE_INFINITY,
    cuts: 0,
    stripRange: false,
    requests: [],
    cutCount: () => made,
    stop: async () => {},
  };

  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);

    // Requests: rewrite heads, remember methods so a HEAD's response is known to have no body.
    const methods: string[] = [];
    let requestHead = '';
    client.on('data', (chunk: Buffer) => {
      requestHead += chunk.toString('latin1');
      for (let end = requestHead.indexOf(HEAD_END); end !== -1; end = requestHead.indexOf(HEAD_END)) {
        const [line = '', ...fields] = requestHead.slice(0, end).split('\r\n');
        requestHead = requestHead.slice(end + HEAD_END.length);
        const [method = '', path = ''] = line.split(' ');
        methods.push(method);
        const range = fields.find((f) => /^range:/i.test(f));
        const kept = relay.stripRange ? fields.filter((f) => !/^(if-)?range:/i.test(f)) : fields;
        relay.requests.push(
          `${method} ${path}${range !== undefined && !relay.stripRange ? ` range=${range.slice(6).trim()}` : ''}`,
        );
        upstream.write([line, ...kept].join('\r\n') + HEAD_END, 'latin1');
      }
    });

    // Responses: count each body's bytes; cut one that goes past the limit.
    let responseHead = Buffer.alloc(0);
    let bodyLeft = 0;
    let bodySent = 0;
    let cutThis = false;
    let passThrough = false;
    upstream.on('data', (data: Buffer) => {
      let chunk = data;
      while (chunk.length > 0) {
        if (passThrough) {
          client.write(chunk);
          return;
        }
        if (bodyLeft > 0) {
          const take = Math.min(bodyLeft, chunk.length);
          if (cutThis && bodySent + take >= relay.cutAfterBytes) {
            client.write(chunk.subarray(0, relay.cutAfterBytes - bodySent), () => close());
            made++;
            return;
          }
          client.write(chunk.subarray(0, take));
          bodyLeft -= take;
          bodySent += take;
          chunk = chunk.subarray(take);
          continue;
        }
        responseHead = Buffer.concat([responseHead, chunk]);
        const end = responseHead.indexOf(HEAD_END);
        if (end === -1) return;
        const head = responseHead.subarray(0, end + HEAD_END.length);
        chunk = responseHead.subarray(end + HEAD_END.length);
        responseHead = Buffer.alloc(0);
        client.write(head);
        const text = head.toString('latin1');
        const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(text)?.[1] ?? 0);
        const method = status >= 200 ? methods.shift() : undefined;
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1] ?? Number.NaN);
        if (/\r\ntransfer-encoding:\s*chunked/i.test(text)) {
          passThrough = true;
          continue;
        }
        const hasBody = method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;
        bodyLeft = hasBody && Number.isFinite(length) ? length : 0;
        bodySent = 0;
        cutThis = relay.cuts > 0 && bodyLeft > relay.cutAfterBytes;
        if (cutThis) relay.cuts--;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return Object.assign(relay, {
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}
