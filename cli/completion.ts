/**
 * Shell completion scripts, generated from the commands themselves (their options, the values an
 * option takes, what their positionals are), so a new command or flag is completed without
 * touching this file. `regctl completion bash|zsh|fish` prints one.
 */
import type { Command } from './io.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export interface CompletedCommand {
  readonly summary: string;
  readonly command: Command;
}

interface Flag {
  readonly long: string;
  readonly short?: string;
  readonly takesValue: boolean;
  readonly choices?: readonly string[];
  /** The value is a file (config files, lists). */
  readonly file: boolean;
}

const FILE_OPTIONS = new Set(['config', 'list', 'output']);

function flagsOf(command: Command): Flag[] {
  const flags: Flag[] = Object.entries(command.options).map(([long, option]) => ({
    long,
    ...(option.short === undefined ? {} : { short: option.short }),
    takesValue: option.type === 'string',
    ...(command.choices?.[long] === undefined ? {} : { choices: command.choices[long] }),
    file: FILE_OPTIONS.has(long),
  }));
  return [...flags, { long: 'help', short: 'h', takesValue: false, file: false }];
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

function bash(commands: readonly CompletedCommand[]): string {
  const names = commands.map((c) => c.command.name).join(' ');
  const cases = commands.map(({ command }) => {
    const flags = flagsOf(command);
    const words = flags.flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]).join(' ');
    const values = flags
      .filter((f) => f.takesValue)
      .map((f) => {
        const match = [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])].join('|');
        const reply = f.choices
          ? `COMPREPLY=($(compgen -W ${quote(f.choices.join(' '))} -- "$cur"))`
          : f.file
            ? 'COMPREPLY=($(compgen -f -- "$cur"))'
            : 'COMPREPLY=()';
        return `        ${match}) ${reply}; return ;;`;
      })
      .join('\n');
    const positional = Array.isArray(command.positionals)
      ? `COMPREPLY=($(compgen -W ${quote(command.positionals.join(' '))} -- "$cur"))`
      : command.positionals === 'none'
        ? 'COMPREPLY=()'
        : 'COMPREPLY=($(compgen -f -- "$cur"))';
    return `    ${command.name})
      case "$prev" in
${values || '        __none) ;;'}
      esac
      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W ${quote(words)} -- "$cur")); else ${positional}; fi ;;`;
  });
  return `# regctl completion for bash: source <(regctl completion bash), or save it as
# /etc/bash_completion.d/regctl (or ~/.local/share/bash-completion/completions/regctl).
_regctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W ${quote(`${names} --help --version`)} -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
  esac
}
complete -o filenames -F _regctl regctl
`;
}

function zsh(commands: readonly CompletedCommand[]): string {
  const described = commands
    .map((c) => `    ${quote(`${c.command.name}:${c.summary.replaceAll(':', '\\:')}`)}`)
    .join('\n');
  const cases = commands.map(({ command }) => {
    const specs = flagsOf(command).map((f) => {
      const value = f.takesValue
        ? `:${f.long}:${f.choices ? `(${f.choices.join(' ')})` : f.file ? '_files' : ' '}`
        : '';
      const spec = `[${f.long}]${value}'`;
      return f.short
        ? `        '(-${f.short} --${f.long})'{-${f.short},--${f.long}}'${spec}`
        : `        '--${f.long}${spec}`;
    });
    const positional = Array.isArray(command.positionals)
      ? `'*:argument:(${command.positionals.join(' ')})'`
      : command.positionals === 'none'
        ? ''
        : "'*:file:_files'";
    return `    ${command.name})
      _arguments -s \\
${[...specs, ...(positional ? [`        ${positional}`] : [])].join(' \\\n')} ;;`;
  });
  return `#compdef regctl
# regctl completion for zsh: save as _regctl in a folder of $fpath (or: source <(regctl completion zsh)).
_regctl() {
  local -a commands
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'regctl command' commands
    return
  fi
  local command=$words[2]
  shift words
  (( CURRENT-- ))
  case $command in
${cases.join('\n')}
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _regctl "$@"; else compdef _regctl regctl; fi
`;
}

function fish(commands: readonly CompletedCommand[]): string {
  const lines = [
    '# regctl completion for fish: regctl completion fish > ~/.config/fish/completions/regctl.fish',
    'complete -c regctl -f',
    "complete -c regctl -n __fish_use_subcommand -l version -d 'print the version'",
  ];
  for (const { summary, command } of commands) {
    lines.push(`complete -c regctl -n __fish_use_subcommand -a ${command.name} -d ${quote(summary)}`);
    const when = `-n '__fish_seen_subcommand_from ${command.name}'`;
    for (const f of flagsOf(command)) {
      const short = f.short ? ` -s ${f.short}` : '';
      const value = !f.takesValue ? '' : f.choices ? ` -x -a ${quote(f.choices.join(' '))}` : f.file ? ' -r -F' : ' -x';
      lines.push(`complete -c regctl ${when} -l ${f.long}${short}${value}`);
    }
    if (Array.isArray(command.positionals))
      lines.push(`complete -c regctl ${when} -a ${quote(command.positionals.join(' '))}`);
    else if (command.positionals !== 'none') lines.push(`complete -c regctl ${when} -F`);
  }
  return `${lines.join('\n')}\n`;
}

/** The completion script for `shell`. */
export function completionScript(shell: Shell, commands: readonly CompletedCommand[]): string {
  return { bash, zsh, fish }[shell](commands);
}
