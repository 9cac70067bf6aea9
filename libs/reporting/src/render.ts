/**
 * ReportModel -> one self-contained HTML page: Chart.js inlined, images as data: URIs, no request
 * leaves the page. Measured and published numbers are always in separate, labelled panels.
 */
import type { DatasetModel } from './dataset';
import type { CaseTable, CurveModel, ReportModel } from './model';
import type { OverlayRun } from './overlays-io';
import { REPORT_ORGANS } from './organs';
import { PAGE_CSS, PAGE_SCRIPT } from './render-page';
import { PALETTE, PUBLISHED_PALETTE, esc, meanSd, num, scriptJson } from './render-util';
import { measuredDscSeries, publishedDscSeries, type ChartSeries, type FigureModel, type OrganStats, type PairedRow } from './shape';

export interface ChartSpec {
  id: string;
  kind: 'bars' | 'lines' | 'strip' | 'scatter';
  config: unknown;
  /** Tick names of a strip chart's x axis. */
  names?: string[];
}

const FIG_HEADINGS: Record<string, string> = {
  fig3: 'Figure 3 — number of down-sampling layers',
  fig4: 'Figure 4 — block types and skip merging',
  fig5: 'Figure 5 — loss functions',
  fig6: 'Figure 6 — AnatomyNet against published methods',
  table1: 'Table I — training datasets',
};

function barConfig(series: ChartSeries, palette: string[], yTitle: string, published: boolean) {
  return {
    type: 'bar',
    data: {
      labels: series.labels,
      datasets: series.datasets.map((d, i) => ({
        label: d.label, data: d.data, sd: d.sd, n: d.n,
        backgroundColor: palette[i % palette.length] + (published ? '' : 'cc'),
        borderColor: published ? '#222' : palette[i % palette.length],
        borderWidth: 1,
        ...(published ? { borderDash: [3, 2] } : {}),
      })),
    },
    options: {
      responsive: true, maintainAspectRatio: false,
      scales: { y: { min: 0, max: 100, title: { display: true, text: yTitle } }, x: { ticks: { autoSkip: false, maxRotation: 45 } } },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
    },
  };
}

/** Beside a row measured over several runs (seed replicates, cross-validation folds). */
const runsNote = (note: string | undefined) => (note ? ` <small>(${esc(note)})</small>` : '');

function statsTable(f: FigureModel, caption: string, pick: (s: OrganStats) => Parameters<typeof meanSd>[0], digits: number, mean?: (key: string) => string): string {
  if (!f.rows.length) return '';
  const head = `<tr><th>${esc(caption)}</th>${REPORT_ORGANS.map((o) => `<th>${esc(o.short)}</th>`).join('')}${mean ? '<th>Mean</th>' : ''}</tr>`;
  const body = f.rows
    .map((r) => `<tr><td>${esc(r.label)}${runsNote(r.runsNote)}</td>${REPORT_ORGANS.map((o) => `<td>${r.organs[o.key] ? meanSd(pick(r.organs[o.key]), digits) : '<span class="na">missing</span>'}</td>`).join('')}${mean ? `<td>${mean(r.key)}</td>` : ''}</tr>`)
    .join('');
  return `<table><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

/**
 * Per row and organ, the test contours the annotation checks flag (of those checked), and over all organs;
 * nothing when no row's runs were evaluated with the checks.
 */
function contourChecksTable(f: FigureModel): string {
  const total = (r: FigureModel['rows'][number]) =>
    REPORT_ORGANS.reduce((t, o) => ({ checked: t.checked + (r.organs[o.key]?.contours.checked ?? 0), flagged: t.flagged + (r.organs[o.key]?.contours.flagged ?? 0) }), { checked: 0, flagged: 0 });
  if (!f.rows.some((r) => total(r).checked)) return '';
  const cell = (c: { checked: number; flagged: number } | undefined) => (c?.checked ? `${c.flagged}<span class="sd"> / ${c.checked}</span>` : '<span class="na">—</span>');
  const head = `<tr><th>flagged / checked</th>${REPORT_ORGANS.map((o) => `<th>${esc(o.short)}</th>`).join('')}<th>All</th></tr>`;
  const body = f.rows.map((r) => `<tr><td>${esc(r.label)}${runsNote(r.runsNote)}</td>${REPORT_ORGANS.map((o) => `<td>${cell(r.organs[o.key]?.contours)}</td>`).join('')}<td>${cell(total(r))}</td></tr>`).join('');
  return `<h4>Test contours the annotation checks flag (sides confused, a piece far from the organ, CT numbers unlike the organ’s, a volume far from the training cases’) <span class="tag measured">measured</span></h4><table><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

/** Measured and published DSC in adjacent, labelled columns (Fig. 6, Table I): read beside the paper's table. */
function comparisonTable(f: FigureModel): string {
  if (!f.counterparts.length) return '';
  const head = f.counterparts
    .map((c) => {
      const label = f.rows.find((r) => r.key === c.rowKey)?.label ?? f.missing.find((m) => m.row === c.rowKey)?.label ?? c.rowKey;
      return `<th class="m">${esc(label)}<br><small>measured, profile ${esc(f.profile ?? '—')}</small></th><th class="p">${esc(c.published.label)}<br><small>published</small></th>`;
    })
    .join('');
  const cell = (rowKey: string, organKey: string | null) => {
    const r = f.rows.find((x) => x.key === rowKey);
    if (!r) return '<td class="na">not run</td>';
    if (organKey === null) return `<td><b>${num(r.meanDsc, 1)}</b></td>`;
    return `<td>${meanSd(r.organs[organKey]?.dsc)}</td>`;
  };
  const body = [...REPORT_ORGANS.map((o) => ({ key: o.key as string | null, short: o.short, tg: o.tg263 as string | null })), { key: null, short: 'Mean', tg: null }]
    .map((o) => `<tr><td>${o.key ? esc(o.short) : '<b>Mean</b>'}</td>${f.counterparts.map((c) => `${cell(c.rowKey, o.key)}<td class="p">${o.tg ? num(c.published.dsc[o.tg as keyof typeof c.published.dsc] ?? NaN, 2) : `<b>${num(c.published.mean ?? NaN, 2)}</b>`}</td>`).join('')}</tr>`)
    .join('');
  return `<h4>DSC (%) beside the paper <span class="tag measured">measured</span> <span class="tag published">published</span></h4><table class="cmp"><thead><tr><th>Organ</th>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Each row minus the reference row, paired by test case; the test's smallest possible p says what n allows. */
function pairedTable(f: FigureModel): string {
  if (!f.reference || !f.paired.length) return f.pairedNote ? `<p class="note">${esc(f.pairedNote)}</p>` : '';
  const signed = (v: number) => (v > 0 ? `+${num(v, 1)}` : num(v, 1));
  const pValue = (v: number) => (Number.isNaN(v) ? '—' : v < 0.001 ? '&lt; 0.001' : num(v, 3));
  const p = (r: PairedRow) => (r.test.method === 'none' ? '—' : pValue(r.test.p));
  // Holm over the figure's comparisons, where there are several
  const family = f.paired.filter((r) => !Number.isNaN(r.pHolm)).length;
  const holmCell = (r: PairedRow) => (family > 1 ? `<td>${pValue(r.pHolm)}</td>` : '');
  // rows trained several times (seeds, folds) are tested with t; the others with Wilcoxon, said so beside them
  const replicatedAny = f.paired.some((r) => r.test.method === 't');
  const how = (r: PairedRow) => (r.test.method === 'approx' ? ' <small>(normal approx.)</small>' : r.test.method === 't' ? ` <small>(t, ${num(r.test.df, 1)} df)</small>` : replicatedAny ? ' <small>(Wilcoxon)</small>' : '');
  const body = f.paired
    .map((r) => `<tr><td>${esc(r.label)}${runsNote(f.rows.find((x) => x.key === r.key)?.runsNote)}</td><td>${r.cases}</td><td><b>${signed(r.meanDiff)}</b></td><td>${num(r.low, 1)} to ${num(r.high, 1)}</td><td>${p(r)}${how(r)}</td>${holmCell(r)}</tr>`)
    .join('');
  const single = f.paired.filter((r) => r.test.method !== 't');
  const n = Math.min(...single.map((r) => r.cases));
  const floor = single.length && n >= 1 && n <= 50 ? ` With ${n} test cases no difference can reach a two-sided p below ${num(2 / 2 ** n, n > 9 ? 4 : 3)}.` : '';
  const replicated = replicatedAny
    ? ` Where either row was trained several times (seeds or cross-validation folds), each side's runs are averaged per case first, and the interval and p come from a t test whose variance adds the spread between each side's runs (the variance of their own means) to that over the cases, at Welch–Satterthwaite degrees of freedom: the difference must stand out from training again, not only from the test cases. A side trained once cannot show its own spread, so it borrows the other side’s (training assumed to vary as much for both).`
    : '';
  const holm = family > 1
    ? ` Holm p: the p adjusted for the ${family} comparisons with the reference in this figure (Holm’s step-down method), so that the chance of any false finding among them stays at the level; the 95% intervals are each row’s own.`
    : '';
  return `<h4>Against the reference ${esc(f.reference.label)}, case by case <span class="tag measured">measured</span></h4>
<p class="meta">Per test case, the mean DSC over the organs both runs scored; Δ = row − reference in percentage points, mean over cases with a 95% bootstrap interval (cases resampled 10,000 times), and the Wilcoxon signed-rank test of the per-case differences (two-sided).${floor}${replicated}${holm}</p>
<table class="paired"><thead><tr><th>Row</th><th>Cases</th><th>Δ mean DSC (pp)</th><th>95% interval</th><th>${replicatedAny ? 'p' : 'Wilcoxon p'}</th>${family > 1 ? '<th>Holm p</th>' : ''}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Rows trained on different datasets (a folder curated again between them): said above the figure. */
function mixedDatasets(f: FigureModel): string {
  if (f.datasetDigests.length < 2) return '';
  return `<p class="note">The rows of this figure were trained on ${f.datasetDigests.length} different datasets (manifest sha256 ${f.datasetDigests.map((d) => `<code>${esc(d.slice(0, 12))}…</code>`).join(', ')}; runs in the footer): a difference between rows may be the data’s as much as the configuration’s. <code>trainer grid --retrain-other-dataset</code> trains the rows again on one.</p>`;
}

function figureSection(f: FigureModel, charts: ChartSpec[]): string {
  const id = `${f.figure}-${f.name}`.replace(/[^a-zA-Z0-9_-]/g, '_');
  const heading = FIG_HEADINGS[f.figure] ?? f.title;
  const prof = f.grid
    ? `Grid <code>${esc(f.grid)}</code>: profile <b>${esc(f.profile || '(none)')}</b> shown${f.profile !== 'full' ? ' (the <code>full</code> profile is not in the database; numbers are not comparable with the paper’s)' : ''}${f.otherProfiles.length ? `; also in the database: ${f.otherProfiles.map(esc).join(', ')}` : ''}.`
    : 'This grid is not in the database.';
  const missing = f.missing.length
    ? `<div class="missing"><b>Missing cells (${f.missing.length})</b> — not plotted, never shown as zero:<ul>${f.missing.map((m) => `<li><b>${esc(m.label)}</b> (<code>${esc(m.row)}</code>)${m.organ ? `, organ <b>${esc(m.organ)}</b>` : ''}: ${esc(m.reason)}</li>`).join('')}</ul></div>`
    : '';
  let measured: string;
  if (f.rows.length) {
    const cid = `chart-${id}-measured`;
    charts.push({ id: cid, kind: 'bars', config: barConfig(measuredDscSeries(f), PALETTE, 'DSC (%) — mean ± SD over test cases', false) });
    measured = `<div class="chartbox"><canvas id="${cid}"></canvas></div>`;
  } else measured = '<p class="note">No measured results for this figure yet (see the missing cells above).</p>';
  let published: string;
  if (f.published.length) {
    const cid = `chart-${id}-published`;
    charts.push({ id: cid, kind: 'bars', config: barConfig(publishedDscSeries(f), PUBLISHED_PALETTE, 'DSC (%) — published', true) });
    const table = `<table><thead><tr><th>Published</th>${f.published.map((p) => `<th title="${esc(p.source)}">${esc(p.label)}</th>`).join('')}</tr></thead><tbody>${REPORT_ORGANS.map((o) => `<tr><td>${esc(o.short)}</td>${f.published.map((p) => `<td>${num(p.dsc[o.tg263] ?? NaN, 2)}</td>`).join('')}</tr>`).join('')}<tr><td><b>Mean</b></td>${f.published.map((p) => `<td><b>${num(p.mean ?? NaN, 2)}</b></td>`).join('')}</tr></tbody></table>`;
    published = `<div class="chartbox"><canvas id="${cid}"></canvas></div><details><summary>Published values (DSC %)</summary>${table}</details>`;
  } else if (f.publishedMeans.length) {
    const measuredMean = (k: string) => f.rows.find((r) => r.key === k)?.meanDsc;
    published = `<p class="meta">${esc(f.publishedNote)}</p><table><thead><tr><th>Configuration</th><th>Published mean DSC (%)</th><th>Measured mean DSC (%)<br><small>profile ${esc(f.profile ?? '—')}</small></th></tr></thead><tbody>${f.publishedMeans.map((p) => `<tr><td>${esc(p.label)}</td><td>${num(p.mean, 1)} <span class="tag published">published</span></td><td>${num(measuredMean(p.rowKey) ?? NaN, 1)}</td></tr>`).join('')}</tbody></table><p class="meta">Source: ${esc(f.publishedMeans[0].source)}.</p>`;
  } else published = `<p class="note">${esc(f.publishedNote)}</p>`;
  const cmp = comparisonTable(f);
  const pairClass = f.published.length ? 'pair even' : f.rows.length > 4 ? 'pair wide' : 'pair';
  const meanCell = (k: string) => {
    const r = f.rows.find((x) => x.key === k);
    return `${num(r?.meanDsc ?? NaN, 1)}${r && r.runIds.length > 1 ? ` <small>± ${num(r.seedSd, 1)} between ${r.runsNote.includes('fold') ? 'runs' : 'seeds'}</small>` : ''}`;
  };
  const folds = f.rows.some((r) => r.runsNote.includes('fold'))
    ? ' Rows marked with folds were trained once per cross-validation fold (<code>grid --folds</code>): each fold’s model trained on the other folds of the training and validation cases and selected on its own, all tested on the same test split.'
    : '';
  const seeds = f.rows.some((r) => r.runIds.length > 1)
    ? ` Rows marked with seeds were trained that many times with different seeds (<code>grid --replicates</code>): per case, each metric is the mean over their runs, so the ± over test cases is not widened by training noise; ± between seeds is the SD of the runs’ own mean DSC.${folds}`
    : '';
  const counts = new Set(f.rows.map((r) => r.cases));
  const cases = counts.size === 1 ? `${[...counts][0]} for every run` : f.rows.map((r) => `${esc(r.label)}: ${r.cases}`).join('; ');
  return `<section id="${id}"><h2>${esc(heading)}</h2>
<p class="meta">${esc(f.description)}</p><p class="meta">${prof} Bars: mean over test cases, whiskers ± 1 SD; n = test cases with the organ annotated (hover a bar). Mean = mean of the nine organ means, as in the paper (shown only when all nine organs have results).${cases ? ` Test cases per run: ${cases}.` : ''}${seeds}</p>
${missing}${mixedDatasets(f)}
<div class="${pairClass}"><div class="panel measured"><h3>Measured <span class="tag measured">this project</span></h3>${measured}</div>
<div class="panel published"><h3>Published <span class="tag published">Zhu et al. 2019</span></h3>${published}</div></div>
${cmp}${pairedTable(f)}<div class="tables">
<h4>DSC (%) — mean ± SD over test cases <span class="tag measured">measured</span></h4>${statsTable(f, 'DSC %', (s) => s.dsc, 1, meanCell)}
<h4>HD95 (mm) — mean ± SD over test cases; infinite values (empty prediction) counted apart <span class="tag measured">measured</span></h4>${statsTable(f, 'HD95 mm', (s) => s.hd95Mm, 1)}
<h4>Surface Dice (%) at the run’s tolerance — mean ± SD <span class="tag measured">measured</span></h4>${statsTable(f, 'Surface Dice %', (s) => s.surfaceDice, 1)}
${contourChecksTable(f)}</div></section>`;
}

function curvesSection(curves: CurveModel[], charts: ChartSpec[]): string {
  if (!curves.length) return '<section id="curves"><h2>Training curves</h2><p class="note">No runs.</p></section>';
  const items = curves.map((c, i) => {
    const cid = `chart-curve-${i}`;
    const has = c.loss.length || c.valDice.length;
    if (has)
      charts.push({
        id: cid, kind: 'lines',
        config: {
          type: 'line',
          data: {
            datasets: [
              { label: c.lossKey === 'train/epoch_loss' ? 'training loss (epoch mean)' : 'training loss (per step)', data: c.loss.map(([x, y]) => ({ x, y })), yAxisID: 'y', borderColor: '#1f77b4', backgroundColor: '#1f77b4', pointRadius: 0, borderWidth: 1.5 },
              { label: 'validation mean Dice (%)', data: c.valDice.map(([x, y]) => ({ x, y })), yAxisID: 'y1', borderColor: '#d62728', backgroundColor: '#d62728', pointRadius: c.valDice.length < 30 ? 2 : 0, borderWidth: 1.5 },
            ],
          },
          options: {
            responsive: true, maintainAspectRatio: false, parsing: true,
            scales: {
              x: { type: 'linear', title: { display: true, text: c.lossKey === 'train/loss' ? 'step (loss) / epoch (Dice)' : 'epoch' } },
              y: { position: 'left', title: { display: true, text: 'loss' } },
              y1: { position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: 'val Dice %' } },
            },
            plugins: { legend: { position: 'bottom', labels: { boxWidth: 10 } } },
          },
        },
      });
    return `<div class="panel"><h4>${esc(c.label)} <small>(${esc(c.status)}, <code>${esc(c.runId)}</code>)</small></h4>${has ? `<div class="chartbox small"><canvas id="${cid}"></canvas></div>` : '<p class="note">No training metrics logged.</p>'}</div>`;
  });
  return `<section id="curves"><h2>Training curves</h2><p class="meta">Per run: training loss (left axis) and validation mean Dice over the nine organs (right axis, %), as logged by the trainer.</p><div class="curves">${items.join('')}</div></section>`;
}

/** "case organ" -> the annotation checks that flagged it in the dataset given (its ground truth may be wrong). */
function flaggedCells(d: DatasetModel | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of d?.annotationFindings ?? []) for (const o of f.organs) out.set(`${f.caseId} ${o}`, [...(out.get(`${f.caseId} ${o}`) ?? []), f.check]);
  return out;
}

function casesSection(tables: CaseTable[], flags: Map<string, string[]>): string {
  let contoursFlagged = false;
  const body = tables
    .map((t) => {
      const cells = t.cases.flatMap((c) => Object.values(c.organs));
      const flaggedHere = cells.filter((v) => v.contourFinding).length;
      contoursFlagged ||= flaggedHere > 0;
      const checked = cells.some((v) => v.contourFinding !== undefined) ? `, ${flaggedHere} of ${cells.length} contours flagged` : '';
      const rows = t.cases
        .map((c) => `<tr><td>${esc(c.caseId)}</td>${REPORT_ORGANS.map((o) => {
          const v = c.organs[o.key];
          const flag = flags.get(`${c.caseId} ${o.key}`);
          const mark = flag ? ` <span class="flag" title="annotation check: ${esc(flag.join(', '))}">⚑</span>` : '';
          const doubt = v?.contourFinding ? ` <span class="flag" title="contour check: ${esc(v.contourFinding.split(';').join(', '))}">⚠</span>` : '';
          return v ? `<td title="HD95 ${num(v.hd95Mm, 2)} mm, surface Dice ${num(v.surfaceDice, 1)} %">${num(v.dsc, 1)}${mark}${doubt}<br><span class="n">${num(v.hd95Mm, 1)} mm · ${num(v.surfaceDice, 0)}%</span></td>` : '<td class="na">—</td>';
        }).join('')}</tr>`)
        .join('');
      return `<details><summary>${esc(t.label)} — ${t.cases.length} test cases${checked} <code>${esc(t.runId)}</code></summary><table><thead><tr><th>Case</th>${REPORT_ORGANS.map((o) => `<th>${esc(o.short)}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table></details>`;
    })
    .join('');
  const flagNote = flags.size ? ' ⚑ = the curator\'s annotation checks flag that organ of that case (Dataset, Annotation checks): its ground truth may be wrong, and so may its score.' : '';
  const doubtNote = contoursFlagged ? ' ⚠ = the same checks, run on the model\'s own contour, flag it (hover for which: sides confused, a piece far from the organ, CT numbers unlike the organ\'s, a volume far from the training cases\'): a contour a physicist would look at first.' : '';
  return `<section id="cases"><h2>Per-case results</h2><p class="meta">Each cell: DSC % (large), then HD95 mm · surface Dice % (small); — = organ not annotated in that case.${flagNote}${doubtNote}</p>${body || '<p class="note">No run has test results.</p>'}</section>`;
}

function overlaysSection(runs: OverlayRun[] | null, note: string): string {
  const legend = '<p class="legend"><span style="background:#00c800"></span>ground truth <span style="background:#e60000"></span>prediction <span style="background:#ffdc00"></span>overlap — on CT (soft-tissue window); axial slice of largest ground-truth area, anterior up, patient’s right on the left.</p>';
  if (!runs) return `<section id="overlays"><h2>Qualitative overlays (as Fig. 7)</h2><p class="note">${esc(note)}</p></section>`;
  const blocks = runs
    .filter((r) => r.images.length)
    .map((r) => `<h3>${esc(r.label)} <small><code>${esc(r.runId)}</code></small></h3><p class="meta">${esc(r.message)}</p><div class="overlays">${r.images.map((im) => `<figure><img src="${im.dataUri}" width="${im.width}" height="${im.height}" alt="${esc(`${im.caseId} ${im.organ}`)}"><figcaption>${esc(im.caseId)} · <b>${esc(im.organ)}</b> · slice ${im.slice} · GT ${im.truthPixels} px, pred ${im.predictionPixels} px</figcaption></figure>`).join('')}</div>`)
    .join('');
  const table = `<table><thead><tr><th>Run</th><th>Status</th><th>Prediction files</th><th class="l">Overlays</th></tr></thead><tbody>${runs.map((r) => `<tr><td>${esc(r.label)} <code>${esc(r.runId)}</code></td><td>${esc(r.runStatus)}</td><td>${r.predictionsFound}</td><td class="l">${r.images.length ? `${r.images.length} images` : ''} ${esc(r.message)}</td></tr>`).join('')}</tbody></table>`;
  return `<section id="overlays"><h2>Qualitative overlays (as Fig. 7)</h2>${legend}<p class="meta">${esc(note)}</p>${blocks || '<p class="note">No overlay could be drawn: no selected run has prediction files (see the table).</p>'}<h4>Prediction files per run</h4>${table}</section>`;
}

function datasetSection(d: DatasetModel | null, note: string, charts: ChartSpec[]): string {
  if (!d) return `<section id="dataset"><h2>Dataset</h2><p class="note">${esc(note)}</p></section>`;
  const counts = `<table><thead><tr><th>Organ</th><th>annotated</th><th>not annotated</th><th>annotated, empty</th><th>volume mL: n</th><th>median</th><th>IQR</th><th>min</th><th>max</th></tr></thead><tbody>${REPORT_ORGANS.map((o, i) => {
    const s = d.volumesMl[i].summary;
    return `<tr><td>${esc(o.short)}</td><td>${d.counts[i].annotated}</td><td>${d.counts[i]['not-annotated']}</td><td>${d.counts[i]['annotated-empty']}</td><td>${s.n}</td><td>${num(s.median, 2)}</td><td>${num(s.q1, 2)}–${num(s.q3, 2)}</td><td>${num(s.min, 2)}</td><td>${num(s.max, 2)}</td></tr>`;
  }).join('')}</tbody></table>`;
  const jitter = (k: number) => (((k * 2654435761) % 1000) / 1000 - 0.5) * 0.5; // deterministic spread
  charts.push({
    id: 'chart-dataset-volumes', kind: 'strip', names: REPORT_ORGANS.map((o) => o.short),
    config: {
      type: 'scatter',
      data: { datasets: REPORT_ORGANS.map((o, i) => ({ label: o.short, data: d.volumesMl[i].values.map((v, k) => ({ x: i + jitter(k + 1), y: v })), backgroundColor: PALETTE[i % PALETTE.length], pointRadius: 2.5 })) },
      options: { responsive: true, maintainAspectRatio: false, scales: { x: { type: 'linear', min: -0.6, max: REPORT_ORGANS.length - 0.4 }, y: { type: 'logarithmic', title: { display: true, text: 'organ volume (mL, log scale)' } } }, plugins: { legend: { display: false } } },
    },
  });
  charts.push({
    id: 'chart-dataset-spacing', kind: 'scatter',
    config: {
      type: 'scatter',
      data: { datasets: [{ label: 'cases', data: d.spacing.points.map((p) => ({ x: p.inPlaneMm, y: p.sliceMm })), backgroundColor: '#1f77b4', pointRadius: 3 }] },
      options: { responsive: true, maintainAspectRatio: false, scales: { x: { title: { display: true, text: 'in-plane spacing (mm, geometric mean of x and y)' } }, y: { title: { display: true, text: 'slice spacing (mm)' } } }, plugins: { legend: { display: false } } },
    },
  });
  const avail = `<div class="scroll"><table class="avail"><thead><tr><th>Case</th><th>source</th>${REPORT_ORGANS.map((o) => `<th>${esc(o.short)}</th>`).join('')}</tr></thead><tbody>${d.availability.map((a) => `<tr><td>${esc(a.caseId)}</td><td>${esc(a.sourceKind)}</td>${a.cells.map((c) => `<td class="a-${c}" title="${c}">${c === 'annotated' ? '●' : c === 'annotated-empty' ? '◌' : '·'}</td>`).join('')}</tr>`).join('')}</tbody></table></div>`;
  const groups = `<table><thead><tr><th>spacing x × y × z (mm)</th><th>cases</th></tr></thead><tbody>${d.spacing.groups.map((g) => `<tr><td>${esc(g.spacing)}</td><td>${g.cases}</td></tr>`).join('')}</tbody></table>`;
  const skipped = d.skipped.length
    ? `<table><thead><tr><th>Where</th><th class="l">Item</th><th class="l">Reason</th></tr></thead><tbody>${d.skipped.map((s) => `<tr><td>${esc(s.where)}</td><td class="l">${esc(s.item)}</td><td class="l">${esc(s.reason)}</td></tr>`).join('')}</tbody></table>`
    : '<p class="meta">No input was skipped.</p>';
  const findings = !d.annotationFindings
    ? '<p class="meta">The manifest predates the curator\'s annotation checks (curate again to run them).</p>'
    : d.annotationFindings.length
      ? `<p class="meta">For review: the curator changed nothing because of them (a names file section per case answers them). Runs trained on these labels learned from them.</p><table><thead><tr><th>Case</th><th>check</th><th class="l">organs</th><th class="l">finding</th></tr></thead><tbody>${d.annotationFindings.map((f) => `<tr><td>${esc(f.caseId)}</td><td>${esc(f.check)}</td><td class="l">${esc(f.organs.join(', '))}</td><td class="l">${esc(f.message)}</td></tr>`).join('')}</tbody></table>`
      : '<p class="meta">Nothing found (sides, stray pieces, slices left out, CT numbers, shifts against the bone, volumes against the cohort).</p>';
  const inputs = d.inputs ? ` Inputs: ${d.inputs.files} files, ${d.inputs.used} used, ${d.inputs.skipped} skipped.` : '';
  const version = d.version ? ` version ${d.version}${d.previous ? ` (replacing version ${d.previous.version}, manifest sha256 <code>${esc(d.previous.manifestDigest.slice(0, 16))}…</code>)` : ''};` : '';
  return `<section id="dataset"><h2>Dataset</h2><p class="meta">${d.numCases} cases;${version} manifest sha256 <code>${esc(d.digest)}</code>.${inputs}</p>
<h3>Organs: availability and volumes</h3>${counts}
<div class="pair"><div class="panel"><h4>Organ volumes (annotated cases)</h4><div class="chartbox"><canvas id="chart-dataset-volumes"></canvas></div></div>
<div class="panel"><h4>Voxel spacing</h4><div class="chartbox"><canvas id="chart-dataset-spacing"></canvas></div><p class="meta">in-plane: median ${num(d.spacing.inPlane.median, 2)} mm (${num(d.spacing.inPlane.min, 2)}–${num(d.spacing.inPlane.max, 2)}); slice: median ${num(d.spacing.slice.median, 2)} mm (${num(d.spacing.slice.min, 2)}–${num(d.spacing.slice.max, 2)})</p></div></div>
<h3>Availability matrix</h3><p class="legend"><span class="a-annotated"></span>annotated (●) <span class="a-not-annotated"></span>not annotated (·) <span class="a-annotated-empty"></span>annotated but empty (◌)</p>${avail}
<h3>Spacing distribution</h3>${groups}
<h3>Skipped inputs</h3>${skipped}
<h3>Annotation checks</h3>${findings}</section>`;
}

function footer(m: ReportModel): string {
  const uniq = (xs: (string | null)[]) => [...new Set(xs.filter((x): x is string => !!x))].sort();
  const commits = uniq(m.runs.map((r) => r.gitCommit));
  const digests = uniq(m.runs.map((r) => r.datasetDigest));
  // runs of the version the given dataset replaced in its folder are named as such
  const older = m.dataset?.previous ? m.runs.filter((r) => r.datasetDigest === m.dataset!.previous!.manifestDigest).length : 0;
  const olderNote = older ? `; ${older} of them trained on version ${m.dataset!.previous!.version}, the one it replaced` : '';
  const dsMatch = m.dataset ? (digests.length ? (digests.every((d) => d === m.dataset!.digest) ? ' (all runs match the manifest given)' : ` — <b>differs from the manifest given (${esc(m.dataset.digest.slice(0, 12))}…) for some runs</b>${olderNote}`) : '') : '';
  const runs = `<details><summary>${m.runs.length} runs</summary><table><thead><tr><th>Run id</th><th>Grid / row</th><th>Status</th><th>Git commit</th><th>Dataset digest</th><th>Backend</th><th class="l">Error</th></tr></thead><tbody>${m.runs.map((r) => `<tr><td><code>${esc(r.id)}</code></td><td>${esc(r.label)}</td><td>${esc(r.status)}</td><td><code>${esc(r.gitCommit ?? '—')}</code></td><td><code>${esc(r.datasetDigest ? r.datasetDigest.slice(0, 16) : '—')}</code></td><td>${esc([r.backend, r.adapter].filter(Boolean).join(' / ') || '—')}</td><td class="l">${esc(r.error ?? '')}</td></tr>`).join('')}</tbody></table></details>`;
  return `<footer><p>Database: <code>${esc(m.dbPath)}</code> · generated ${esc(m.generatedAt)}</p><p>Git commits: ${commits.map((c) => `<code>${esc(c)}</code>`).join(', ') || '—'}</p><p>Dataset digests (from runs): ${digests.map((d) => `<code>${esc(d)}</code>`).join(', ') || '—'}${dsMatch}</p>${runs}<p>Published numbers: Zhu et al., “AnatomyNet: Deep learning for fast and fully automated whole-volume segmentation of head and neck anatomy”, Med. Phys. 2019; always shown in grey, dashed panels marked “published”.</p></footer>`;
}

/** The report page. `chartJs` is the Chart.js UMD bundle's source, inlined. */
export function renderReportHtml(m: ReportModel, chartJs: string): { html: string; charts: ChartSpec[] } {
  const charts: ChartSpec[] = [];
  const figs = m.figures.map((f) => figureSection(f, charts)).join('\n');
  const nav = [...m.figures.map((f) => [`${f.figure}-${f.name}`.replace(/[^a-zA-Z0-9_-]/g, '_'), FIG_HEADINGS[f.figure]?.split(' — ')[0] ?? f.name]), ['curves', 'Training curves'], ['cases', 'Per-case'], ['overlays', 'Overlays'], ['dataset', 'Dataset']]
    .map(([id, t]) => `<a href="#${esc(id)}">${esc(t)}</a>`)
    .join('');
  const summary = `<table><thead><tr><th>Figure</th><th class="l">Grid shown</th><th>Rows measured</th><th>Missing cells</th></tr></thead><tbody>${m.figures
    .map((f) => `<tr><td><a href="#${esc(`${f.figure}-${f.name}`.replace(/[^a-zA-Z0-9_-]/g, '_'))}">${esc(FIG_HEADINGS[f.figure] ?? f.title)}</a></td><td class="l">${f.grid ? `<code>${esc(f.grid)}</code>${f.profile !== 'full' ? ' <small>(not the full profile)</small>' : ''}` : '<span class="na">not in the database</span>'}</td><td>${f.rows.length}</td><td>${f.missing.length ? `<b>${f.missing.length}</b>` : '0'}</td></tr>`)
    .join('')}</tbody></table>`;
  const body = `${summary}\n${figs}\n${curvesSection(m.curves, charts)}\n${casesSection(m.caseTables, flaggedCells(m.dataset))}\n${overlaysSection(m.overlays, m.overlayNote)}\n${datasetSection(m.dataset, m.datasetNote, charts)}\n${footer(m)}`;
  const safeChartJs = chartJs.replace(/<\/script/gi, '<\\/script');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>AnatomyNet reproduction — report</title><style>${PAGE_CSS}</style></head>
<body><main><h1>AnatomyNet reproduction — report</h1>
<p class="meta">Measured results of this project beside the numbers published by Zhu et al. (2019). Measured panels are white and tagged <span class="tag measured">this project</span>; published panels are grey, dashed and tagged <span class="tag published">Zhu et al. 2019</span>. The two are never merged into one series.</p>
<nav>${nav}</nav>
${body}
</main>
<script>${safeChartJs}</script>
<script>window.REPORT_CHARTS=${scriptJson(charts)};</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
  return { html, charts };
}
