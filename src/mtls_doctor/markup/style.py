"""The one stylesheet of the report and the dashboard, inlined into every page."""

from __future__ import annotations

CSS = """
:root{--fg:#1d2330;--muted:#5b6474;--line:#d9dee7;--bg:#ffffff;--soft:#f4f6fa;
--bad:#b3261e;--ok:#1e7d32;--warn:#a15c00;--accent:#2456a6}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:16px 20px 48px}
h1{font-size:1.6em;margin:.4em 0 .2em}h2{font-size:1.25em;margin:1.6em 0 .5em;
border-bottom:1px solid var(--line);padding-bottom:.2em}h3{font-size:1.05em;margin:1.1em 0 .4em}
a{color:var(--accent)}
nav.top{background:#1d2330;color:#fff;padding:8px 20px;display:flex;gap:18px;flex-wrap:wrap}
nav.top a{color:#fff;text-decoration:none;font-weight:600}
.muted,.empty{color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:130px;
background:var(--soft)}
.card .value{font-size:1.6em;font-weight:700}.card .label{color:var(--muted);font-size:.9em}
.card.bad .value{color:var(--bad)}.card.ok .value{color:var(--ok)}
.card.warn .value{color:var(--warn)}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:.93em}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);position:sticky;top:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.92em}
pre{background:var(--soft);border:1px solid var(--line);padding:8px;overflow-x:auto;
white-space:pre-wrap}
.barcell{display:flex;align-items:center;gap:6px;justify-content:flex-end}
.barcell .bar{display:inline-block;height:10px;background:var(--bad);opacity:.55;
flex:none}
.chart{width:100%;height:auto;max-width:1100px}.chart.bars{max-width:680px}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:4px 0 8px;padding:0;list-style:none}
.legend li{display:flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px}
.code-section{border:1px solid var(--line);border-radius:6px;padding:4px 16px 10px;
margin:16px 0;break-inside:avoid-page}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:.85em;
background:var(--soft);border:1px solid var(--line)}
.badge.bad{color:var(--bad)}.badge.ok{color:var(--ok)}
.notice{border-left:4px solid var(--warn);background:#fff7e6;padding:8px 12px;margin:10px 0}
form.filters{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:flex-end;
background:var(--soft);border:1px solid var(--line);padding:10px;border-radius:6px}
form.filters label{display:flex;flex-direction:column;font-size:.85em;color:var(--muted)}
form.filters input,form.filters select{font:inherit;padding:3px 6px;min-width:120px}
form.filters button{font:inherit;padding:4px 14px}
.pager{display:flex;gap:12px;align-items:center;margin:8px 0}
ol.steps li{margin:0 0 8px}
@media print{
 nav.top,form.filters,.pager,.noprint{display:none}
 body{font-size:11px}main{max-width:none;padding:0}
 th{position:static}a{color:inherit;text-decoration:none}
 .code-section{border:none;padding:0}
 h2{break-after:avoid}table,svg{break-inside:avoid}
}
"""
