import { expect, test } from 'vitest';
import { FIG6_PUBLISHED, TABLE1_PUBLISHED } from './published';

// The paper's stated means must equal the mean of its per-organ numbers (guards against typos here).
test.each([...FIG6_PUBLISHED, ...TABLE1_PUBLISHED].filter((s) => s.mean !== undefined && Object.keys(s.dsc).length === 9))(
  '$label: stated mean matches its nine organs',
  (s) => {
    const v = Object.values(s.dsc) as number[];
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    expect(Math.abs(mean - s.mean!)).toBeLessThan(0.01);
  },
);
