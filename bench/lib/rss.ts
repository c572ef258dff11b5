/**
 * Resident memory of another process, sampled from `/proc/<pid>/status` (VmRSS), to check that
 * moving a large blob never buffers it: the peak stays flat whatever the blob size.
 */
import { readFile } from 'node:fs/promises';

/** VmRSS of `pid` in bytes, or null when the process is gone. */
export async function readRss(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The settled RSS of an idle `pid`: the median of `count` samples taken `intervalMs` apart, so a
 * single GC swing does not set the baseline a peak is compared with. 0 when the process is gone.
 */
export async function idleRss(pid: number, count = 10, intervalMs = 50): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const rss = await readRss(pid);
    if (rss !== null) samples.push(rss);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? 0;
}

/** A running sampler; `stop()` returns the peak and the number of samples taken. */
export interface RssSampler {
  stop(): Promise<{ peakBytes: number; samples: number }>;
}

/** Samples every `intervalMs` until stopped. */
export function sampleRss(pid: number, intervalMs = 50): RssSampler {
  let peak = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const rss = await readRss(pid);
      if (rss !== null) {
        peak = Math.max(peak, rss);
        samples++;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { peakBytes: peak, samples };
    },
  };
}
