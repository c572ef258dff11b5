/**
 * The container clients users actually run, wrapped for tests: skopeo, podman, containerd's `ctr`
 * (with a private containerd daemon) and docker (with a private dockerd).
 *
 * Nothing may leave the machine. Every client gets its own state under a temp dir and a config in
 * which `docker.io` resolves to a loopback port nothing listens on (podman/skopeo `registries.conf`
 * with `unqualified-search-registries = []`, containerd `hosts.toml`), and dockerd runs in a private
 * mount namespace whose `/etc/resolv.conf` says `nameserver 127.0.0.1`. Logins go to auth files in
 * the temp dir, never to the user's home. A missing binary fails with a `MissingBinaryError` naming
 * the Debian package.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deadPort } from './free-port.ts';
import { sha256 } from './oci-image.ts';
import {
  type CommandResult,
  type RunOptions,
  readLog,
  requireBinary,
  run,
  spawnLogged,
  stopChild,
  waitUntil,
} from './process.ts';

/** Runs one client command; throws on a non-zero exit unless `allowFailure`. */
export type ClientCommand = (args: readonly string[], options?: RunOptions) => Promise<CommandResult>;

/** skopeo and podman sharing one sandbox (registries.conf, policy, auth file) under `dir`. */
export interface ContainersTools {
  readonly dir: string;
  /** The loopback port standing in for docker.io (nothing listens on it). */
  readonly deadPort: number;
  /** The auth file `podman login` and `skopeo login` write. */
  readonly authFile: string;
  skopeo: ClientCommand;
  podman: ClientCommand;
  /**
   * `skopeo inspect --raw` of `docker://REFERENCE` over plain HTTP (with `--creds USER:PASSWORD`
   * when given): the manifest exactly as the registry serves it, and its digest.
   */
  inspectRaw(reference: string, options?: { creds?: string }): Promise<{ text: string; digest: string }>;
}

/** Sets up the sandbox for skopeo and podman (containers/image clients). */
export async function createContainersTools(dir: string): Promise<ContainersTools> {
  await mkdir(dir, { recursive: true });
  const dead = await deadPort();
  const registriesConf = join(dir, 'registries.conf');
  await writeFile(
    registriesConf,
    [
      'unqualified-search-registries = []',
      '',
      '[[registry]]',
      'prefix = "docker.io"',
      `location = "127.0.0.1:${dead}"`,
      'insecure = true',
      '',
    ].join('\n'),
  );
  const policy = join(dir, 'policy.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const authFile = join(dir, 'auth.json');
  await writeFile(authFile, '{"auths":{}}');
  const containersConf = join(dir, 'containers.conf');
  await writeFile(containersConf, '[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    CONTAINERS_CONF: containersConf,
    REGISTRY_AUTH_FILE: authFile,
    HTTP_PROXY: '',
    HTTPS_PROXY: '',
    http_proxy: '',
    https_proxy: '',
  };
  const podmanRoot = join(dir, 'podman');
  // Looked up on first use (a test of one client does not need the other installed), then kept.
  let skopeoBinary: string | undefined;
  let podmanBinary: string | undefined;
  const skopeo: ClientCommand = (args, options = {}) => {
    skopeoBinary ??= requireBinary('skopeo', 'skopeo');
    return run(skopeoBinary, ['--policy', policy, ...args], { ...options, env: { ...env, ...options.env } });
  };
  return {
    dir,
    deadPort: dead,
    authFile,
    skopeo,
    async inspectRaw(reference, options = {}) {
      const creds = options.creds === undefined ? [] : ['--creds', options.creds];
      const { stdout } = await skopeo(['inspect', '--raw', '--tls-verify=false', ...creds, `docker://${reference}`]);
      return { text: stdout, digest: sha256(Buffer.from(stdout)) };
    },
    async podman(args, options = {}) {
      podmanBinary ??= requireBinary('podman', 'podman');
      const globals = [
        '--root',
        join(podmanRoot, 'root'),
        '--runroot',
        join(podmanRoot, 'run'),
        '--tmpdir',
        join(podmanRoot, 'tmp'),
        '--storage-driver',
        'vfs',
        '--cgroup-manager',
        'cgroupfs',
        '--events-backend',
        'file',
      ];
      return run(podmanBinary, [...globals, ...args], { ...options, env: { ...env, ...options.env } });
    },
  };
}

/** A daemon started by a helper, with its log. */
export interface Daemon {
  readonly pid: number;
  readonly logFile: string;
  log(): string;
  stop(): Promise<void>;
}

/** A private containerd (own root, state, socket; CRI plugin disabled) and `ctr` bound to it. */
export interface Containerd extends Daemon {
  readonly address: string;
  /** A hosts dir (`--hosts-dir`) whose docker.io entry points at a dead loopback port. */
  readonly hostsDir: string;
  ctr: ClientCommand;
}

export async function startContainerd(dir: string): Promise<Containerd> {
  const binary = requireBinary('containerd', 'containerd');
  const ctrBinary = requireBinary('ctr', 'containerd');
  await mkdir(dir, { recursive: true });
  const address = join(dir, 'c.sock');
  const config = join(dir, 'config.toml');
  await writeFile(
    config,
    [
      'version = 2',
      `root = ${JSON.stringify(join(dir, 'root'))}`,
      `state = ${JSON.stringify(join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(address)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(join(dir, 'opt'))}`,
      '',
    ].join('\n'),
  );
  const hostsDir = join(dir, 'hosts');
  await mkdir(join(hostsDir, 'docker.io'), { recursive: true });
  await writeFile(join(hostsDir, 'docker.io', 'hosts.toml'), `server = "http://127.0.0.1:${await deadPort()}"\n`);
  const logFile = join(dir, 'containerd.log');
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir };
  const child = spawnLogged(binary, ['--config', config], logFile, { env });
  const log = () => readLog(logFile);
  const ctr: ClientCommand = (args, options = {}) =>
    run(ctrBinary, ['--address', address, '--namespace', 'regctl-test', ...args], {
      ...options,
      env: { ...env, ...options.env },
    });
  await waitUntil(
    async () => (await ctr(['version'], { allowFailure: true, timeoutMs: 5000 })).code === 0,
    'containerd',
    {
      child,
      intervalMs: 200,
      describe: () => log().slice(-4000),
    },
  );
  return {
    pid: child.pid ?? 0,
    address,
    hostsDir,
    logFile,
    log,
    ctr,
    async stop() {
      await stopChild(child, 'SIGTERM');
    },
  };
}

/** A private dockerd (own data-root, exec-root, socket; no iptables, no bridge) and `docker` bound to it. */
export interface Dockerd extends Daemon {
  readonly host: string;
  readonly storageDriver: string;
  docker: ClientCommand;
}

export interface DockerdOptions {
  /** `127.0.0.1:PORT` entries dockerd may talk plain HTTP to. */
  insecureRegistries?: readonly string[];
  /** Docker Hub mirrors (`http://127.0.0.1:PORT`). */
  registryMirrors?: readonly string[];
  /** 'overlay2' (default) or 'vfs'. */
  storageDriver?: 'overlay2' | 'vfs';
}

/**
 * Starts dockerd in a private mount namespace whose `/etc/resolv.conf` points at 127.0.0.1 (no
 * lookup of docker.io can leave the machine), with `allow-nondistributable-artifacts: [docker.io]`.
 */
export async function startDockerd(dir: string, options: DockerdOptions = {}): Promise<Dockerd> {
  const dockerd = requireBinary('dockerd', 'docker.io');
  const dockerCli = requireBinary('docker', 'docker.io');
  const unshare = requireBinary('unshare', 'util-linux');
  await mkdir(dir, { recursive: true });
  const storageDriver = options.storageDriver ?? 'overlay2';
  const socket = join(dir, 'd.sock');
  const resolvConf = join(dir, 'resolv.conf');
  await writeFile(resolvConf, 'nameserver 127.0.0.1\n');
  const config = join(dir, 'daemon.json');
  await writeFile(
    config,
    JSON.stringify({
      'data-root': join(dir, 'data'),
      'exec-root': join(dir, 'x'),
      pidfile: join(dir, 'docker.pid'),
      hosts: [`unix://${socket}`],
      iptables: false,
      'ip-masq': false,
      bridge: 'none',
      'storage-driver': storageDriver,
      'insecure-registries': options.insecureRegistries ?? [],
      'registry-mirrors': options.registryMirrors ?? [],
      'allow-nondistributable-artifacts': ['docker.io'],
      'log-level': 'info',
    }),
  );
  const logFile = join(dir, 'dockerd.log');
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir };
  const child = spawnLogged(
    unshare,
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$1" /etc/resolv.conf && exec "$2" --config-file "$3"',
      'sh',
      resolvConf,
      dockerd,
      config,
    ],
    logFile,
    { env },
  );
  const log = () => readLog(logFile);
  const clientEnv = { ...env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'cli') };
  const docker: ClientCommand = (args, options = {}) =>
    run(dockerCli, args, { ...options, env: { ...clientEnv, ...options.env } });
  await waitUntil(
    async () => (await docker(['version'], { allowFailure: true, timeoutMs: 5000 })).code === 0,
    'dockerd',
    {
      child,
      timeoutMs: 60_000,
      intervalMs: 200,
      describe: () => log().slice(-4000),
    },
  );
  return {
    pid: child.pid ?? 0,
    host: `unix://${socket}`,
    storageDriver,
    logFile,
    log,
    docker,
    async stop() {
      await stopChild(child, 'SIGTERM', 20_000);
    },
  };
}
