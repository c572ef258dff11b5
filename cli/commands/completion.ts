import { parseArgs } from 'node:util';
import { type Command, UsageError } from '../io.ts';

const SHELL_NAMES = ['bash', 'zsh', 'fish'] as const;

export const completion: Command = {
  name: 'completion',
  help: `Usage: regctl completion bash|zsh|fish

Prints a completion script for the shell (commands, their options, and the values options take):
  bash   source <(regctl completion bash)   or save it in /etc/bash_completion.d/regctl
  zsh    regctl completion zsh > "\${fpath[1]}/_regctl"   (then restart the shell)
  fish   regctl completion fish > ~/.config/fish/completions/regctl.fish`,
  options: {},
  positionals: SHELL_NAMES,
  async run(args, io) {
    const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
    const shell = positionals[0];
    if (positionals.length !== 1 || !SHELL_NAMES.includes(shell as (typeof SHELL_NAMES)[number]))
      throw new UsageError(`name one shell: ${SHELL_NAMES.join(', ')}`);
    const { completionScript } = await import('../completion.ts');
    const { loadCommands } = await import('../main.ts');
    io.stdout(completionScript(shell as (typeof SHELL_NAMES)[number], await loadCommands()).trimEnd());
    return 0;
  },
};
