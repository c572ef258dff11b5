/** The V8 flags the launcher sets before loading regctl (see v8-flags.mjs). */
export function v8Flags(env: NodeJS.ProcessEnv): string[];
