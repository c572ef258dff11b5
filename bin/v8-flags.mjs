// The V8 flags the launcher (regctl.mjs) sets before it loads anything of regctl.
//
// `--no-incremental-marking`: V8 starts marking the old generation early, well before it is full,
// whenever the young generation is large next to the room left below the old generation's limit.
// A push keeps the young generation at its largest (every socket chunk is a fresh buffer), so V8
// ran a mark-compact about every 30 MiB received, although the old generation hardly grew: 60
// mark-compacts per 2 GiB pushed, their marking taking a quarter of the server's CPU (about 0.5 s
// per GiB, on the GC threads and the event loop). Without incremental marking a mark-compact runs
// only when the old generation reaches its limit (one in the same 2 GiB), and then runs whole:
// about 8 ms for regctl's 20 MiB heap. Measured in docs/benchmarks.md (push and request rates).
//
// `REGCTL_INCREMENTAL_MARKING=1` keeps V8's default (a heap that grows large, where whole marks
// would pause too long).
/** @param {NodeJS.ProcessEnv} env @returns {string[]} */
export function v8Flags(env) {
  return env.REGCTL_INCREMENTAL_MARKING === '1' ? [] : ['--no-incremental-marking'];
}
