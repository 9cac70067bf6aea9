/** Small HTML helpers for render.ts: escaping, number formatting, embedded JSON. */
import type { Summary } from './stats';

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A number with `digits` decimals; NaN as an em dash, ±Infinity as ∞. */
export function num(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  return v.toFixed(digits);
}

/** `mean ± sd` with n, and how many values were infinite (kept out of the mean). */
export function meanSd(s: Summary | undefined, digits = 1): string {
  if (!s || (!s.n && !s.nInfinite)) return '<span class="na">—</span>';
  const inf = s.nInfinite ? ` <span class="inf" title="${s.nInfinite} infinite values (empty prediction or truth), not in the mean">+${s.nInfinite}×∞</span>` : '';
  if (!s.n) return `<span class="na">—</span>${inf}`;
  return `${num(s.mean, digits)}<span class="sd"> ± ${num(s.sd, digits)}</span><br><span class="n">n=${s.n}</span>${inf}`;
}

/** JSON safe to place inside a <script> element. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
/** Published series: greys and muted tones, so they never read as this project's measurements. */
export const PUBLISHED_PALETTE = ['#4d4d4d', '#8c8c8c', '#b3b3b3', '#6b8e9e', '#a3a380', '#9e7b8e'];
