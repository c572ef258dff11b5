/**
 * A Docker token server on 127.0.0.1 (port 0), like auth.docker.io: `GET /token?service=…&scope=…`
 * answers `{ token, access_token, expires_in, issued_at }` with an ES256 JWT whose `access` claim
 * grants the requested scopes (to the configured users, or to anyone when `users` is empty).
 *
 * The signing key and a self-signed certificate are generated per instance with `openssl`; the
 * certificate is `rootCertBundle` for distribution's `auth.token.rootcertbundle`, and travels in the
 * JWT header as `x5c`, which is how distribution finds the key that signed a token.
 */
import { createPrivateKey, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { requireBinary, run } from './process.ts';

export interface TokenServer {
  readonly url: string;
  /** `${url}/token`, the realm distribution advertises. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM certificate that verifies the tokens. */
  readonly rootCertBundle: string;
  /** Every token request: the scopes asked and the user (or undefined when anonymous). */
  readonly requests: { scopes: string[]; user: string | undefined }[];
  stop(): Promise<void>;
}

export async function startTokenServer(options: {
  dir: string;
  users?: Readonly<Record<string, string>>;
  service?: string;
  expiresInSeconds?: number;
}): Promise<TokenServer> {
  const openssl = requireBinary('openssl', 'openssl');
  const keyFile = join(options.dir, 'token.key');
  const certFile = join(options.dir, 'token.crt');
  await run(openssl, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=regctl test token issuer',
  ]);
  const key = createPrivateKey(await readFile(keyFile));
  const certPem = await readFile(certFile, 'utf8');
  const x5c = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '');
  const service = options.service ?? 'upstream-registry';
  const issuer = 'regctl-test-token-issuer';
  const users = options.users ?? {};
  const requests: TokenServer['requests'] = [];

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/token') {
        res.writeHead(404).end();
        return;
      }
      let user: string | undefined;
      const auth = req.headers.authorization;
      if (auth?.startsWith('Basic ')) {
        const [name, password] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
        if (name === undefined || users[name] !== password) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
          return;
        }
        user = name;
      }
      if (Object.keys(users).length > 0 && user === undefined) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="token"' }).end();
        return;
      }
      const scopes = url.searchParams.getAll('scope');
      requests.push({ scopes, user });
      const access = scopes.flatMap((scope) => {
        const [type, name, actions] = scope.split(':');
        return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
      });
      const expiresIn = options.expiresInSeconds ?? 300;
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c: [x5c] })
        .setIssuer(issuer)
        .setSubject(user ?? '')
        .setAudience(url.searchParams.get('service') ?? service)
        .setIssuedAt(now)
        .setNotBefore(now - 5)
        .setExpirationTime(now + expiresIn)
        .setJti(randomUUID())
        .sign(key);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() }),
      );
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    rootCertBundle: certPem,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
