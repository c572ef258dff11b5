/**
 * Login abuse (issue #16): what a flood of bogus logins does to real traffic, and whether a
 * failed login's time tells which user names exist.
 *
 *   node bin/run-ts.mjs bench/login-abuse.ts [--seconds 10] [--connections 32] [--baseline]
 *
 * `regctl serve` (the real CLI, child processes on free loopback ports) serves a hosted
 * repository with forced authentication and two users, as operators write them: `ci` with a
 * plaintext password from the environment and `hashed` with a cost-10 bcrypt hash from
 * `htpasswd -nbBC 10`. One server has the default login throttle, the other has it disabled (so
 * only the bounded password-check queue stands between the flood and the event loop). Printed:
 *
 * - a valid client's blob pull (256 KiB, its credentials verified once and then cached): p50/p99
 *   idle, then while `--connections` keep-alive connections of a separate process send bogus
 *   logins (random names and passwords) for `--seconds`, on each server, with the flood's rate and
 *   answers;
 * - failed-login times (fresh wrong passwords, the names taken in turn, 20 rounds) for `ci`,
 *   `hashed` and a name that does not exist: median and p90, on the unthrottled server.
 *
 * `--baseline` leaves `security.loginThrottle` out of both configs, for measuring a commit from
 * before the field existed (both servers then run that commit's behaviour). Every loop is bounded
 * by a count and a deadline; nothing leaves 127.0.0.1.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  basicAuthorization,
  percentile,
  pushBlob,
  startLoginFlood,
  timeFailedLogins,
  timePulls,
  usersConfig,
} from '../test/helpers/login-load.ts';
import { type RegctlServer, startRegctl, type TestConfig } from '../test/helpers/regctl-server.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    baseline: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
if (!(SECONDS >= 2 && SECONDS <= 120 && CONNECTIONS >= 1 && CONNECTIONS <= 256)) {
  throw new Error('--seconds between 2 and 120, --connections between 1 and 256');
}

const CI = { name: 'ci', password: 'ci-bench-password' };
/** `htpasswd -nbBC 10 hashed hashed-bench-password`. */
const HASHED = { name: 'hashed', hash: '$2y$10$YC91IhXrUMeoL6kGL/E3Y.C75ml5Ymy3H5A8k2RfwAOyLfHXooxf6' };
const UNKNOWN = 'nobody-here';
const IMAGE = 'bench/app';
const BLOB_BYTES = 256 * 1024;

function config(throttle: boolean): TestConfig {
  const users = [
    { name: CI.name, env: 'CI_PASSWORD' },
    { name: HASHED.name, bcrypt: HASHED.hash },
  ];
  return usersConfig(users, values.baseline || throttle ? {} : { loginThrottle: { enabled: false } });
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const summary = (latencies: readonly number[]) =>
  `p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(Math.max(...latencies))} (${latencies.length} pulls)`;

async function pullsUnderFlood(server: RegctlServer, path: string, authorization: string): Promise<string> {
  const flood = startLoginFlood({ port: server.port, connections: CONNECTIONS, seconds: SECONDS });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const latencies = await timePulls({
    url: server.url,
    path,
    authorization,
    count: 100_000,
    seconds: SECONDS - 1,
    pauseMs: 5,
  });
  const result = await flood.done;
  return `${summary(latencies)}\n    flood: ${Math.round(result.rate)} bogus logins/s (${result.requests} in ${result.seconds.toFixed(1)} s), answers ${JSON.stringify(result.statuses)}`;
}

const tmp = new TmpDirs();
const servers: RegctlServer[] = [];
try {
  const env = { CI_PASSWORD: CI.password };
  // Logs outside the config folders, which serve watches.
  const logs = await tmp.make('regctl-bench-login-logs-');
  for (const throttle of [true, false]) {
    const dir = await tmp.make('regctl-bench-login-');
    const logFile = join(logs, throttle ? 'throttled.log' : 'open.log');
    servers.push(await startRegctl({ dir, config: config(throttle), env, logFile }));
  }
  const [throttled, open] = servers as [RegctlServer, RegctlServer];
  const authorization = basicAuthorization(CI.name, CI.password);
  const digests = await Promise.all(servers.map((server) => pushBlob(server.url, IMAGE, authorization, BLOB_BYTES)));
  const paths = digests.map((digest) => `/v2/${IMAGE}/blobs/${digest}`);
  console.log(`login abuse — node ${process.version}, ${CONNECTIONS} flood connections, ${SECONDS} s each`);
  console.log(`${values.baseline ? 'baseline: no security.loginThrottle in the configs' : ''}`);

  const idle = await timePulls({ url: open.url, path: paths[1]!, authorization, count: 300, seconds: 20, pauseMs: 5 });
  console.log(`valid pull, idle:                         ${summary(idle)}`);
  console.log(
    `valid pull, flood, default throttle:      ${await pullsUnderFlood(throttled, paths[0]!, authorization)}`,
  );
  console.log(`valid pull, flood, throttle disabled:     ${await pullsUnderFlood(open, paths[1]!, authorization)}`);

  const users = [CI.name, HASHED.name, UNKNOWN];
  const timings = await timeFailedLogins({ url: open.url, users, rounds: 20 });
  console.log('failed login (wrong password), throttle disabled, 20 rounds:');
  for (const user of users) {
    const list = timings.get(user)!;
    const label =
      user === CI.name ? 'ci (env plaintext)' : user === HASHED.name ? 'hashed (bcrypt 10)' : 'unknown name';
    console.log(`  ${label.padEnd(22)} median ${ms(percentile(list, 50))}, p90 ${ms(percentile(list, 90))}`);
  }
  const medianOf = (user: string) => percentile(timings.get(user)!, 50);
  console.log(
    `  unknown − known medians: ${ms(medianOf(UNKNOWN) - medianOf(CI.name))} (plaintext user), ${ms(medianOf(UNKNOWN) - medianOf(HASHED.name))} (bcrypt user)`,
  );
} finally {
  await Promise.all(servers.map((server) => server.stop()));
  await tmp.cleanup();
}
