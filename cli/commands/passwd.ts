import { parseArgs } from 'node:util';
import { type Command, UsageError } from '../io.ts';

const OPTIONS = { cost: { type: 'string', default: '10' } } as const;

/** Reads one password: all of stdin when piped (one trailing newline dropped), or typed twice, unechoed. */
async function readPassword(stdin: NodeJS.ReadStream, prompt: (s: string) => void): Promise<string> {
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  const ask = (question: string) =>
    new Promise<string>((resolve, reject) => {
      prompt(question);
      let typed = '';
      stdin.setRawMode(true);
      stdin.resume();
      const onData = (data: Buffer) => {
        for (const char of data.toString('utf8')) {
          if (char === '\r' || char === '\n') {
            done();
            process.stderr.write('\n');
            resolve(typed);
            return;
          }
          if (char === '\u0003') {
            done();
            reject(new Error('cancelled'));
            return;
          }
          if (char === '\u007f') typed = typed.slice(0, -1);
          else typed += char;
        }
      };
      const done = () => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
      };
      stdin.on('data', onData);
    });
  const first = await ask('Password: ');
  const second = await ask('Again: ');
  if (first !== second) throw new Error('the two passwords differ');
  return first;
}

export const passwd: Command = {
  name: 'passwd',
  help: `Usage: regctl passwd [--cost N] < password-file
       regctl passwd            (asks twice, without echo, on a terminal)

Prints a bcrypt hash of the password read from stdin, for a user of the config:
  users: [{ name: 'ci', password: { bcrypt: '<the hash>' }, roles: [...] }]
The password is never printed or passed as an argument (arguments are visible in ps).
  --cost N   bcrypt cost, 4-15 (default 10: about 50-100 ms per uncached check)
Exit: 0 printed, 1 empty or mismatched password, 2 bad usage.`,
  options: OPTIONS,
  async run(args, io) {
    const { values } = parseArgs({ args, options: OPTIONS });
    const cost = Number(values.cost);
    if (!Number.isInteger(cost) || cost < 4 || cost > 15)
      throw new UsageError('--cost must be an integer from 4 to 15');
    const password = await readPassword(process.stdin, (s) => process.stderr.write(s));
    if (password === '') throw new Error('empty password: nothing to hash');
    const { hash } = await import('@node-rs/bcrypt');
    const hashed = await hash(password, cost);
    io.stdout(hashed);
    if (io.isTTY) io.stderr(`use it in the config as password: { bcrypt: '${hashed}' }`);
    return 0;
  },
};
