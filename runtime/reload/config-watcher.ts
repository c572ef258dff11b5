/**
 * Watches the config file and every local module it imports, and says when they changed.
 *
 * `git checkout`, `git pull` and git-sync sidecars replace files by writing a new file and renaming
 * it over the old one (and git-sync swaps a whole symlinked folder). A watch on the file itself
 * follows the old inode and goes deaf after the first such replacement, so this watches the
 * *folders* that hold the files and filters events by path: a rename-replace then shows up as one
 * `add`/`change` of the watched path, whatever the editor or tool did.
 *
 * How a folder is watched: by default with the kernel's notifications (`fs.watch`, inotify on
 * Linux), filtered by the file name each event carries, so a busy file beside the config (an
 * access log written there on every request) costs one ignored callback and no system call.
 * chokidar's folder watch, used here before, stats every watched file of the folder on any event
 * in it: two thread-pool calls and a rescan per log write (measured: ~35 % of the CPU of a manifest
 * GET when the log sat beside the config). On file systems without notifications (NFS, some
 * container volumes) `usePolling` polls with chokidar, whose polling stats only the watched paths.
 *
 * Bursts (a checkout touching ten files, an editor's write-then-rename) are debounced into one
 * notification. The set of watched files is replaced after each reload, since the imports may have
 * changed with the config.
 */
import { existsSync, type FSWatcher as NodeWatcher, realpathSync, statSync, watch as watchFolder } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { watch as watchWithChokidar } from 'chokidar';

export interface ConfigWatcherOptions {
  /** Absolute or relative paths of the files to watch (the config first, then its imports). */
  files: readonly string[];
  /** Called once per burst of changes, with the changed watched paths (sorted). */
  onChange: (paths: string[]) => void;
  /** Quiet time that ends a burst, in milliseconds. */
  debounceMs?: number;
  /** Polling instead of notifications: network file systems, some container volumes. */
  usePolling?: boolean;
  /** How often polling checks the files, in milliseconds (default 1000). */
  pollIntervalMs?: number;
  /**
   * How often to check whether a watched folder is reached through a symlink that now points
   * elsewhere (git-sync swaps `current` → a new worktree), or was deleted and made again, in
   * milliseconds; 0 turns it off. Default 1000.
   */
  symlinkCheckMs?: number;
}

/**
 * What a watch on `dir` is bound to: the folder its path resolves to through symlinks, with that
 * folder's inode and birth time, or `missing`. A symlink swap changes it, and so does a folder that
 * was deleted and made again, even between two checks and under a reused inode number (the birth
 * time, in nanoseconds, is new; where the file system keeps none it is 0 and the inode decides).
 */
function folderIdentity(dir: string): string {
  try {
    const stats = statSync(dir, { bigint: true });
    return `${realpathSync(dir)}\0${stats.dev}:${stats.ino}:${stats.birthtimeNs}`;
  } catch {
    return 'missing';
  }
}

/** Watches whole folders (not their subfolders) and says which path in them changed. */
interface FolderWatch {
  /** Starts watching `dir`; true when this started a watch that was not running. */
  add(dir: string): boolean;
  remove(dir: string): void;
  /** Resolves once the folders added so far report changes. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Kernel notifications, one `fs.watch` per folder; every event names its file, nothing is stat'ed. */
function notificationWatch(onPath: (path: string) => void): FolderWatch {
  const watches = new Map<string, NodeWatcher>();
  const remove = (dir: string) => {
    watches.get(dir)?.close();
    watches.delete(dir);
  };
  return {
    add(dir) {
      if (watches.has(dir)) return false;
      let handle: NodeWatcher;
      try {
        handle = watchFolder(dir, (event, name) => {
          // A deleted folder's watch goes quiet for good (no 'error'): drop it, and the folder
          // check watches the folder again once it is back, even under the same inode.
          if (event === 'rename' && !existsSync(dir)) remove(dir);
          else if (name !== null) onPath(join(dir, name.toString()));
        });
      } catch {
        return false; // A folder that is gone is added again by the folder check once it is back.
      }
      handle.on('error', () => remove(dir));
      watches.set(dir, handle);
      return true;
    },
    remove,
    ready: () => Promise.resolve(),
    async close() {
      for (const dir of [...watches.keys()]) remove(dir);
    },
  };
}

/** chokidar's polling: stats the watched paths every `intervalMs`, for file systems without notifications. */
function pollingWatch(
  onPath: (path: string) => void,
  isWatched: (path: string) => boolean,
  intervalMs: number,
): FolderWatch {
  const watcher = watchWithChokidar([], {
    ignoreInitial: true,
    depth: 0,
    usePolling: true,
    interval: intervalMs,
    ignored: (path, stats) => stats?.isFile() === true && !isWatched(resolve(path)),
  });
  const added = new Set<string>();
  const ready = new Promise<void>((resolveReady) => watcher.once('ready', () => resolveReady()));
  for (const event of ['add', 'change', 'unlink'] as const) watcher.on(event, (path: string) => onPath(resolve(path)));
  watcher.on('error', () => {
    // A folder that disappears is re-added by the folder check once it is back.
  });
  return {
    // chokidar keeps polling a path whose folder went away; adding it again would rescan it.
    add: (dir) => {
      if (added.has(dir)) return false;
      added.add(dir);
      watcher.add(dir);
      return true;
    },
    remove: (dir) => {
      added.delete(dir);
      watcher.unwatch(dir);
    },
    ready: () => ready,
    close: () => watcher.close(),
  };
}

export class ConfigWatcher {
  #files = new Set<string>();
  #dirs = new Set<string>();
  /** Each watched folder's identity at the last check ({@link folderIdentity}). */
  #targets = new Map<string, string>();
  #symlinkTimer: NodeJS.Timeout | undefined;
  readonly #folders: FolderWatch;
  #pending = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #onChange: (paths: string[]) => void;
  readonly #debounceMs: number;

  constructor(options: ConfigWatcherOptions) {
    this.#onChange = options.onChange;
    this.#debounceMs = options.debounceMs ?? 75;
    const record = (path: string) => this.#record(path);
    this.#folders = options.usePolling
      ? pollingWatch(record, (path) => this.#files.has(path), options.pollIntervalMs ?? 1000)
      : notificationWatch(record);
    this.setFiles(options.files);
    const every = options.symlinkCheckMs ?? 1000;
    if (every > 0) {
      this.#symlinkTimer = setInterval(() => this.#checkFolders(), every);
      this.#symlinkTimer.unref();
    }
  }

  /** Resolves when the initial scan is done and changes from now on are reported. */
  ready(): Promise<void> {
    return this.#folders.ready();
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
    for (const dir of added) this.#folders.add(dir);
    for (const dir of removed) this.#folders.remove(dir);
    this.#dirs = dirs;
    this.#targets = new Map([...dirs].map((dir) => [dir, folderIdentity(dir)]));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#symlinkTimer) clearInterval(this.#symlinkTimer);
    await this.#folders.close();
  }

  /**
   * A watch follows the folder it was set up on, so a symlink swap (git-sync) or a folder deleted
   * and made again is invisible to it: on each check, a folder whose identity changed
   * ({@link folderIdentity}) or whose watch was lost is watched again, and its files are reported
   * as changed (they may have been replaced while nothing watched).
   */
  #checkFolders(): void {
    for (const [dir, before] of this.#targets) {
      const now = folderIdentity(dir);
      let rewatched: boolean;
      if (now === before) {
        rewatched = this.#folders.add(dir);
      } else {
        this.#targets.set(dir, now);
        this.#folders.remove(dir);
        this.#folders.add(dir);
        rewatched = true;
      }
      if (rewatched) for (const file of this.#files) if (dirname(file) === dir) this.#record(file);
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
