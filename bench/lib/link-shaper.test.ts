/**
 * The proxy benchmark's loopback link shaper (bench/lib/link-shaper.ts), its pure parts:
 * rates, the checks of `tc qdisc show dev lo` that decide whether it may touch `lo` (and what it
 * may delete), and the rules it adds. Running `tc` itself would shape the loopback of every suite
 * on the machine, so the tests never do; the benchmark checks the shaped rate at every run.
 */
import { describe, expect, it } from 'vitest';
import { HANDLE, isOurs, isPristine, parseRate, shaperCommands } from './link-shaper.ts';

describe('parseRate', () => {
  it('reads tc rates in bits per second, decimal and binary prefixes', () => {
    expect(parseRate('1gbit')).toBe(1e9);
    expect(parseRate('2Gbit')).toBe(2e9);
    expect(parseRate('500mbit')).toBe(5e8);
    expect(parseRate('2.5gbit')).toBe(2.5e9);
    expect(parseRate('1gibit')).toBe(1024 ** 3);
    expect(parseRate('10000kbit')).toBe(1e7);
  });

  it('refuses what is not a rate, bytes per second, and rates outside 1 mbit – 100 gbit', () => {
    for (const bad of ['1g', '1gbps', '100MB', 'fast', '', '-1gbit', '999kbit', '101gbit']) {
      expect(() => parseRate(bad), bad).toThrow(/rate is 1mbit to 100gbit/);
    }
  });
});

describe('isPristine / isOurs', () => {
  it('allows shaping only when lo has its default noqueue root and nothing else', () => {
    expect(isPristine('qdisc noqueue 0: root refcnt 2 \n')).toBe(true);
    expect(isPristine('qdisc htb 1: root refcnt 2 r2q 10 default 0x10\n')).toBe(false);
    expect(isPristine('qdisc noqueue 0: root refcnt 2 \nqdisc ingress ffff: parent ffff:fff1 ----------------\n')).toBe(
      false,
    );
    expect(isPristine('')).toBe(false);
  });

  it('recognises only its own root handle', () => {
    const ours = `qdisc htb ${HANDLE} root refcnt 2 r2q 10 default 0 direct_packets_stat 3 direct_qlen 10000\n`;
    expect(isOurs(ours)).toBe(true);
    expect(isOurs('qdisc htb 1: root refcnt 2 r2q 10 default 0\n')).toBe(false);
    expect(isOurs(`qdisc tbf ${HANDLE} root refcnt 2 rate 1Gbit\n`)).toBe(false);
    expect(isOurs('qdisc noqueue 0: root refcnt 2 \n')).toBe(false);
  });
});

describe('shaperCommands', () => {
  it('adds an htb root without a default class, one shaped class, and a filter on the source port', () => {
    const [qdisc, klass, filter] = shaperCommands(5000, 1e9);
    expect(qdisc).toEqual(['qdisc', 'add', 'dev', 'lo', 'root', 'handle', HANDLE, 'htb', 'direct_qlen', '10000']);
    expect(qdisc).not.toContain('default');
    expect(klass!.join(' ')).toBe(
      `class add dev lo parent ${HANDLE} classid ${HANDLE}1 htb rate 1000000000bit ceil 1000000000bit ` +
        'burst 262144 cburst 262144 quantum 200000',
    );
    expect(filter!.join(' ')).toBe(
      `filter add dev lo parent ${HANDLE} protocol ip prio 1 u32 match ip sport 5000 0xffff flowid ${HANDLE}1`,
    );
  });

  it('sizes the bucket to 2 ms at high rates, and refuses a bad port', () => {
    expect(shaperCommands(80, 1e10)[1]).toContain('2500000');
    for (const port of [0, 65536, 1.5, Number.NaN]) expect(() => shaperCommands(port, 1e9)).toThrow(/bad port/);
  });
});
