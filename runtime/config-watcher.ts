/**
 * Watches the config file and every local module it imports, and says when they changed.
 *
 * `git checkout`, `git pull` and git-sync sidecars replace files by writing a new file and renaming
 * it over the old one (and git-sync swaps a whole symlinked folder). A watch on the file itself
 * follows the old inode and goes deaf after the first such replacement, so this watches the
 * *folders* that hold the files and filters events by path: a rename-replace then shows up as one
 * `add`/`change` of the watched path, whatever the editor or tool did.
 *
 * Bursts (a checkout touching ten files, an editor's write-then-rename) are debounced into one
 * notification. The set of watched files is replaced after each reload, since the imports may have
 * changed with the config.
 */
import { realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';

export interface ConfigWatcherOptions {
  /** Absolute or relative paths of the files to watch (the config first, then its imports). */
  files: readonly string[];
  /** Called once per burst of changes, with the changed watched paths (sorted). */
  onChange: (paths: string[]) => void;
  /** Quiet time that ends a burst, in milliseconds. */
  debounceMs?: number;
  /** Polling instead of inotify (network filesystems, some container volumes). */
  usePolling?: boolean;
  /**
   * How often to check whether a watched folder is reached through a symlink that now points
   * elsewhere (git-sync swaps `current` → a new worktree), in milliseconds; 0 turns it off.
   * Default 1000.
   */
  symlinkCheckMs?: number;
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

export class ConfigWatcher {
  #files = new Set<string>();
  #dirs = new Set<string>();
  /** Where each watched folder resolved to at the last check. */
  #targets = new Map<string, string>();
  #symlinkTimer: NodeJS.Timeout | undefined;
  #watcher: FSWatcher;
  #pending = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #onChange: (paths: string[]) => void;
  readonly #debounceMs: number;
  readonly #ready: Promise<void>;

  constructor(options: ConfigWatcherOptions) {
    this.#onChange = options.onChange;
    this.#debounceMs = options.debounceMs ?? 75;
    this.#watcher = watch([], {
      ignoreInitial: true,
      depth: 0,
      usePolling: options.usePolling ?? false,
      // Only events of the files we track matter; ignore the rest of each folder cheaply.
      ignored: (path, stats) => stats?.isFile() === true && !this.#files.has(resolve(path)),
    });
    this.#ready = new Promise((resolveReady) => this.#watcher.once('ready', () => resolveReady()));
    for (const event of ['add', 'change', 'unlink'] as const) {
      this.#watcher.on(event, (path: string) => this.#record(resolve(path)));
    }
    this.#watcher.on('error', () => {
      // A folder that disappears (e.g. a git-sync worktree swap) is re-added by setFiles on reload.
    });
    this.setFiles(options.files);
    const every = options.symlinkCheckMs ?? 1000;
    if (every > 0) {
      this.#symlinkTimer = setInterval(() => this.#checkSymlinks(), every);
      this.#symlinkTimer.unref();
    }
  }

  /** Resolves when the initial scan is done and changes from now on are reported. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** The files currently watched, absolute. */
  get files(): string[] {
    return [...this.#files].sort();
  }

  /** Replaces the watched set (after a reload: the config's imports may have changed). */
  setFiles(files: readonly string[]): void {
    if (this.#closed) return;
    this.#files = new Set(files.map((file) => resolve(file)));
    const dirs = new Set([...this.#files].map((file) => dirname(file)));
    const added = [...dirs].filter((dir) => !this.#dirs.has(dir));
    const removed = [...this.#dirs].filter((dir) => !dirs.has(dir));
    if (added.length > 0) this.#watcher.add(added);
    if (removed.length > 0) this.#watcher.unwatch(removed);
    this.#dirs = dirs;
    this.#targets = new Map([...dirs].map((dir) => [dir, realpathOrSelf(dir)]));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#symlinkTimer) clearInterval(this.#symlinkTimer);
    await this.#watcher.close();
  }

  /**
   * A watch follows the folder a symlink pointed at when it was set up, so a symlink swap is
   * invisible to it: compare each folder's real path with the last one seen, and on a change
   * re-watch the folder and report its files as changed.
   */
  #checkSymlinks(): void {
    for (const [dir, before] of this.#targets) {
      const now = realpathOrSelf(dir);
      if (now === before) continue;
      this.#targets.set(dir, now);
      this.#watcher.unwatch(dir);
      this.#watcher.add(dir);
      for (const file of this.#files) if (dirname(file) === dir) this.#record(file);
    }
  }

  #record(path: string): void {
    if (this.#closed || !this.#files.has(path)) return;
    this.#pending.add(path);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const paths = [...this.#pending].sort();
      this.#pending.clear();
      this.#onChange(paths);
    }, this.#debounceMs);
  }
}
