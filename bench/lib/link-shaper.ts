/**
 * A rate-limited "network link" on loopback for one server: every packet a TCP port on `lo` sends
 * is shaped to a rate with Linux traffic control (`tc`, iproute2; needs root), everything else on
 * `lo` stays unshaped. The proxy benchmark puts the upstream registry behind it, so that a direct
 * pull and the proxy's upstream fetch cross the same modelled link (Docker Hub is across a network,
 * not on loopback) while the client ↔ proxy hop stays at loopback speed.
 *
 * What is added, and only while a {@link ShapedLink} is open:
 *
 *   lo root: htb, handle beec:, no default class  → unclassified packets go through HTB's direct
 *   │                                                 queue, unshaped
 *   ├── class beec:1  htb rate R ceil R            → the modelled link
 *   └── filter u32 "ip sport PORT" → beec:1        → packets *sent by* the server's port only
 *
 * (This VM's kernel has `htb`, `tbf` and `u32` but neither `prio` nor `netem`, so a link delay
 * cannot be modelled here, only a rate.) Being a shared machine, nothing is touched unless `lo`
 * has no qdisc of anyone's (`noqueue`), and removal deletes the root only while it is still ours
 * (handle beec:). The rules go away in {@link ShapedLink.remove}, and also on SIGINT, SIGTERM and
 * process exit, so a run that is stopped never leaves `lo` shaped.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The qdisc handle this module owns on `lo`: nothing else is ever deleted. */
export const HANDLE = 'beec:';
const DEVICE = 'lo';

/** A shaped port; {@link remove} restores `lo` (idempotent). */
export interface ShapedLink {
  readonly port: number;
  /** The rate as given (`1gbit`) and in bits per second. */
  readonly rate: string;
  readonly bitsPerSecond: number;
  remove(): Promise<void>;
}

const UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 };

/** Bits per second of a tc rate in bits (`500mbit`, `1gbit`, `2.5gbit`, `1gibit`); throws otherwise. */
export function parseRate(rate: string): number {
  const match = /^(\d+(?:\.\d+)?)(k|m|g|ki|mi|gi)?bit$/i.exec(rate.trim());
  const bits = match ? Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()]! : Number.NaN;
  if (!(bits >= 1e6 && bits <= 1e11)) {
    throw new Error(`link shaper: a rate is 1mbit to 100gbit, e.g. "1gbit" or "500mbit" (got "${rate}")`);
  }
  return bits;
}

/** Whether `tc qdisc show dev lo` says lo has only its default root (`noqueue`): nobody's rules. */
export function isPristine(show: string): boolean {
  const lines = show.trim().split('\n').filter(Boolean);
  return lines.length === 1 && /^qdisc noqueue 0: root\b/.test(lines[0]!);
}

/** Whether `tc qdisc show dev lo` shows this module's root qdisc. */
export function isOurs(show: string): boolean {
  return show.split('\n').some((line) => line.startsWith(`qdisc htb ${HANDLE} root`));
}

/**
 * The `tc` argument lists that shape what `port` sends to `bitsPerSecond`. HTB's bucket holds a few
 * ms at the rate and at least 256 KiB: loopback sends up to 64 KiB GSO packets, and a bucket
 * smaller than a few of them shapes unevenly.
 */
export function shaperCommands(port: number, bitsPerSecond: number): string[][] {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`link shaper: bad port ${port}`);
  const rate = `${Math.round(bitsPerSecond)}bit`;
  const burst = String(Math.max(256 * 1024, Math.round((bitsPerSecond / 8) * 0.002)));
  return [
    ['qdisc', 'add', 'dev', DEVICE, 'root', 'handle', HANDLE, 'htb', 'direct_qlen', '10000'],
    [
      'class',
      'add',
      'dev',
      DEVICE,
      'parent',
      HANDLE,
      'classid',
      `${HANDLE}1`,
      'htb',
      'rate',
      rate,
      'ceil',
      rate,
    ].concat(['burst', burst, 'cburst', burst, 'quantum', '200000']),
    ['filter', 'add', 'dev', DEVICE, 'parent', HANDLE, 'protocol', 'ip', 'prio', '1', 'u32'].concat([
      'match',
      'ip',
      'sport',
      String(port),
      '0xffff',
      'flowid',
      `${HANDLE}1`,
    ]),
  ];
}

async function tc(args: readonly string[]): Promise<string> {
  try {
    return (await run('tc', args, { timeout: 10_000 })).stdout;
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new Error(`link shaper: tc ${args.join(' ')} failed: ${detail}`);
  }
}

/** Deletes the root qdisc if it is ours, synchronously (signal and exit handlers cannot wait). */
function removeSync(): void {
  try {
    const show = execFileSync('tc', ['qdisc', 'show', 'dev', DEVICE], { encoding: 'utf8', timeout: 10_000 });
    if (isOurs(show)) execFileSync('tc', ['qdisc', 'del', 'dev', DEVICE, 'root'], { timeout: 10_000 });
  } catch {
    // Nothing more can be done from an exit handler; `tc qdisc show dev lo` tells.
  }
}

/**
 * Shapes what `port` sends on `lo` to `rate` until `remove()`. Throws, touching nothing, when `tc`
 * is missing or unusable (not root) or `lo` already has someone's qdisc; a failure half-way removes
 * what was added.
 */
export async function shapePort(port: number, rate: string): Promise<ShapedLink> {
  const bitsPerSecond = parseRate(rate);
  const commands = shaperCommands(port, bitsPerSecond);
  const show = await tc(['qdisc', 'show', 'dev', DEVICE]).catch((error: Error) => {
    throw new Error(`${error.message} (is iproute2's tc installed?)`);
  });
  if (!isPristine(show)) {
    throw new Error(`link shaper: lo already has a qdisc, refusing to touch it:\n${show.trim()}`);
  }
  const onSignal = (signal: NodeJS.Signals) => {
    removeSync();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', removeSync);
  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', removeSync);
    if (isOurs(await tc(['qdisc', 'show', 'dev', DEVICE]))) await tc(['qdisc', 'del', 'dev', DEVICE, 'root']);
    const after = await tc(['qdisc', 'show', 'dev', DEVICE]);
    if (isOurs(after)) throw new Error(`link shaper: lo is still shaped after removal:\n${after.trim()}`);
  };
  try {
    for (const args of commands) await tc(args);
  } catch (error) {
    await remove().catch(() => removeSync());
    throw error;
  }
  return { port, rate, bitsPerSecond, remove };
}
