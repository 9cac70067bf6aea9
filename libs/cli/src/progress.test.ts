import { describe, expect, it } from 'vitest';
import { createProgressBar, formatDuration, formatProgress } from './progress';

describe('progress', () => {
  it('formats durations and the bar with an ETA from the mean rate', () => {
    expect(formatDuration(0)).toBe('00:00');
    expect(formatDuration(75)).toBe('01:15');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(NaN)).toBe('--:--');
    // 5 of 10 done in 10 s: 10 s to go.
    expect(formatProgress('curate', 5, 10, 10_000, 10)).toBe('curate [#####.....] 5/10 50% 00:10 elapsed, ETA 00:10');
    expect(formatProgress('curate', 0, 10, 1000, 4)).toBe('curate [....] 0/10 0% 00:01 elapsed, ETA --:--');
  });

  it('redraws one line on a TTY and prints throttled lines otherwise', () => {
    let t = 0;
    const tty: string[] = [], log: string[] = [];
    const a = createProgressBar('x', { stream: { isTTY: true, columns: 200, write: (s: string) => (tty.push(s), true) }, now: () => t });
    const b = createProgressBar('x', { stream: { isTTY: false, write: (s: string) => (log.push(s), true) }, now: () => t, intervalMs: 1000 });
    for (let i = 1; i <= 4; i++) { t += 400; a.update(i, 4); b.update(i, 4); }
    a.finish(); b.finish();
    expect(tty.filter((s) => s.startsWith('\r'))).toHaveLength(5);
    expect(tty.at(-1)).toBe('\n');
    // Non-TTY: first update, one after >= 1 s, and the final line.
    expect(log).toHaveLength(3);
    expect(log.every((s) => s.endsWith('\n') && !s.includes('\r'))).toBe(true);
    expect(log.at(-1)).toContain('4/4 100%');
  });
});
