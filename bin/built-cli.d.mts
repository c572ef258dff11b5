/** Folders compiled into dist/. */
export declare const SOURCE_DIRS: readonly string[];
/** The build stamp's path, relative to the package root. */
export declare const BUILD_STAMP: string;
/** dist/cli/main.js under `root` when the launcher may run it (see built-cli.mjs). */
export declare function builtCli(root: string): string | undefined;
