/** The page shell: styles and the script that draws every chart from embedded configs (no network). */

export const PAGE_CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;margin:0;background:#fafafa}
main{max-width:1280px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:20px;margin:36px 0 6px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:12px 0 6px}h4{font-size:14px;margin:10px 0 4px}
nav a{margin-right:14px}
.meta{color:#555;margin:4px 0}
.pair{display:grid;grid-template-columns:3fr 2fr;gap:16px;align-items:start}
.pair.even{grid-template-columns:1fr 1fr}.pair.wide{grid-template-columns:1fr}
.panel{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 12px}
.panel.published{background:#f3f3f3;border-style:dashed}
.tag{display:inline-block;font-size:11px;font-weight:600;padding:1px 6px;border-radius:3px;margin-left:6px;vertical-align:middle}
.tag.measured{background:#dbeafe;color:#1e3a8a}.tag.published{background:#e5e5e5;color:#333;border:1px dashed #666}
.chartbox{position:relative;height:340px}
.chartbox.small{height:200px}
.missing{background:#fff4e5;border:1px solid #f0b35a;border-radius:6px;padding:8px 12px;margin:8px 0}
.missing ul{margin:4px 0 0 18px;padding:0}
.note{color:#555;font-style:italic}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap;font-size:13px}
.cmp th.m{background:#dbeafe}.cmp th.p{background:#e5e5e5}.cmp td.p{background:#f3f3f3;color:#333}
th:first-child,td:first-child{text-align:left}
thead th{background:#f0f0f0}.scroll thead th{position:sticky;top:0}
td.l,th.l{text-align:left;white-space:normal}
.tables{display:grid;grid-template-columns:1fr;gap:4px;overflow-x:auto}
.sd{color:#666}.n{color:#888;font-size:11px}.inf{color:#b45309;font-size:11px}.na{color:#aaa}.flag{color:#b45309}
.curves{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:12px}
.overlays{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;background:#fff;border:1px solid #ddd;padding:6px;border-radius:4px}
figcaption{font-size:12px;color:#333;max-width:210px}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px -2px 12px;border:1px solid #999}
.avail td{padding:0 3px;text-align:center;font-size:11px}
.a-annotated{background:#86efac}.a-not-annotated{background:#f5f5f5;color:#bbb}.a-annotated-empty{background:#fde68a}
.scroll{max-height:420px;overflow:auto;display:inline-block}
details{margin:6px 0}summary{cursor:pointer}
footer{margin-top:40px;font-size:12px;color:#444;border-top:1px solid #ccc;padding-top:10px}
footer code{font-size:11px}
`;

/**
 * Draws every chart in `REPORT_CHARTS` ({id, config, kind}). Bars carry per-value `sd` and `n` arrays:
 * a small plugin draws ± SD whiskers and the tooltip shows mean ± SD (n). No animation (stable screenshots).
 */
export const PAGE_SCRIPT = `
(function(){
  var whiskers={id:'whiskers',afterDatasetsDraw:function(chart){
    var ctx=chart.ctx,y=chart.scales.y;if(!y)return;
    chart.data.datasets.forEach(function(ds,i){
      if(!ds.sd||!chart.isDatasetVisible(i))return;var meta=chart.getDatasetMeta(i);
      meta.data.forEach(function(el,j){var m=ds.data[j],s=ds.sd[j];if(m==null||s==null)return;
        var top=y.getPixelForValue(Math.min(m+s,y.max)),bot=y.getPixelForValue(Math.max(m-s,y.min)),w=Math.max(2,(el.width||6)/4);
        ctx.save();ctx.strokeStyle='#222';ctx.lineWidth=1;ctx.beginPath();
        ctx.moveTo(el.x,top);ctx.lineTo(el.x,bot);ctx.moveTo(el.x-w,top);ctx.lineTo(el.x+w,top);ctx.moveTo(el.x-w,bot);ctx.lineTo(el.x+w,bot);
        ctx.stroke();ctx.restore();});});}};
  Chart.defaults.animation=false;Chart.defaults.font.size=12;
  (window.REPORT_CHARTS||[]).forEach(function(c){
    var cfg=c.config;cfg.options=cfg.options||{};cfg.options.plugins=cfg.options.plugins||{};
    if(c.kind==='bars'){
      cfg.plugins=[whiskers];
      cfg.options.plugins.tooltip={callbacks:{label:function(t){var ds=t.dataset,j=t.dataIndex,v=ds.data[j];
        if(v==null)return ds.label+': no result';var s=ds.sd&&ds.sd[j],n=ds.n&&ds.n[j];
        return ds.label+': '+v.toFixed(2)+(s!=null?' \\u00b1 '+s.toFixed(2):'')+(n?' (n='+n+')':'');}}};
    }
    if(c.kind==='strip'){
      var names=c.names;cfg.options.scales.x.afterBuildTicks=function(ax){ax.ticks=names.map(function(_,i){return {value:i};});};
      cfg.options.scales.x.ticks={autoSkip:false,maxRotation:45,callback:function(v){return names[v]||'';}};
      cfg.options.plugins.tooltip={callbacks:{label:function(t){return t.dataset.label+': '+t.parsed.y.toFixed(2)+' mL';}}};
    }
    new Chart(document.getElementById(c.id),cfg);
  });
})();
`;
