/** The stylesheet and the one small script of keyward's pages: served from our origin, so the CSP can be strict. */
export const CSS = `
:root{--bg:#f6f7f9;--card:#fff;--ink:#14161a;--muted:#5b6270;--line:#dfe3ea;--brand:#3b5bdb;--brand-ink:#fff;--danger:#c92a2a;--ok:#2b8a3e;--warn:#b35c00}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
a{color:var(--brand)}main{max-width:1180px;margin:0 auto;padding:24px}
.top{display:flex;align-items:center;gap:20px;padding:12px 24px;background:#111827;color:#e5e7eb}
.top a{color:#e5e7eb;text-decoration:none}.top .brand{font-weight:700;letter-spacing:.02em}.top nav{display:flex;gap:16px;flex:1}
.top nav a[aria-current=page]{color:#fff;border-bottom:2px solid #8ea2ff}
.signout{margin-left:auto;display:flex;gap:8px;align-items:center;color:#cbd5e1}.signout .link{color:#cbd5e1}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:24px;margin:0 0 20px}
.narrow{max-width:460px;margin:40px auto}h1{font-size:24px;margin:0 0 8px;overflow-wrap:anywhere}h2{font-size:18px;margin:0 0 12px}
p.lead{color:var(--muted);margin:0 0 20px}label{display:block;font-weight:600;margin:14px 0 6px}
input,select{width:100%;padding:9px 11px;border:1px solid #b8c0cc;border-radius:7px;font:inherit;background:#fff}
input:focus,select:focus,button:focus,a:focus{outline:3px solid #8ea2ff;outline-offset:1px}
.hint{color:var(--muted);font-size:13px;margin-top:4px}
.warning{display:block;color:#7a4b00;background:#fff7e0;border:1px solid #f0d38a;border-radius:6px;padding:4px 8px;margin-top:4px;font-size:13px}
button,.button{display:inline-block;padding:9px 16px;border-radius:7px;border:1px solid var(--brand);background:var(--brand);color:var(--brand-ink);font:inherit;font-weight:600;cursor:pointer;text-decoration:none}
button.secondary,.button.secondary{background:#fff;color:var(--ink);border-color:#b8c0cc}button.danger{background:var(--danger);border-color:var(--danger)}
button.link{background:none;border:none;padding:0;color:var(--brand);font-weight:500;text-decoration:underline}
.actions{display:flex;gap:12px;margin-top:20px;flex-wrap:wrap}
.error{background:#fff0f0;border:1px solid #f1b5b5;color:#8a1c1c;border-radius:7px;padding:10px 12px;margin:0 0 16px}
.notice{background:#f0f5ff;border:1px solid #bac8ff;border-radius:7px;padding:10px 12px;margin:0 0 16px}
.success{background:#ebfbee;border:1px solid #b2f2bb;border-radius:7px;padding:10px 12px;margin:0 0 16px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:16px 0}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;font-weight:600}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13.5px}
.secret{display:flex;gap:8px;align-items:center}.secret input{font-family:ui-monospace,Menlo,monospace}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:9px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:13px}
.tree td.depth-2{padding-left:28px}.tree td.depth-3{padding-left:48px}.tree td.depth-4{padding-left:68px}.tree td.depth-2::before,.tree td.depth-3::before,.tree td.depth-4::before{content:"↳ ";color:#868e96}
.badge{display:inline-block;padding:1px 8px;border-radius:99px;font-size:12px;font-weight:600;background:#e9ecef}
.badge.active{background:#d3f9d8;color:#1b5e20}.badge.revoked{background:#ffe3e3;color:#8a1c1c}.badge.expired{background:#fff3bf;color:#7a4a00}
.tabs{display:flex;gap:4px;margin:0 0 16px}.tabs a{padding:6px 14px;border:1px solid var(--line);border-radius:99px;text-decoration:none;color:var(--ink);background:#fff}
.pager{display:flex;gap:16px;justify-content:flex-end;margin-top:12px}
.tabs a[aria-current=page]{background:var(--ink);color:#fff;border-color:var(--ink)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:16px}
.bar{height:12px;border-radius:6px;background:#e9ecef;overflow:hidden}.bar>span{display:block;height:100%;background:var(--brand)}
.chart{display:flex;align-items:flex-end;gap:3px;height:120px;border-bottom:1px solid var(--line);padding-top:8px}
.chart span{flex:1;background:var(--brand);min-height:1px;border-radius:2px 2px 0 0}.chart span.denied{background:var(--danger)}
.inline{display:inline}.row-actions{display:flex;gap:6px;align-items:center;flex-wrap:nowrap}button{white-space:nowrap;flex-shrink:0}
table.keys td.name{min-width:16ch;overflow-wrap:anywhere}table.stack td{overflow-wrap:anywhere}table.stack td.mono{white-space:normal}table.keys .hint{overflow-wrap:anywhere}.actions-cell>.row-actions{flex-wrap:wrap}
details.numbers{margin-top:10px}details.numbers table{max-width:360px}summary{cursor:pointer;color:var(--brand)}select.compact{width:auto;padding:5px 6px;font-size:13px}button.small{padding:5px 10px;font-size:13px}td time{white-space:nowrap}.muted{color:var(--muted)}.usercode{font-size:28px;letter-spacing:.15em;text-align:center;text-transform:uppercase}
fieldset{border:1px solid var(--line);border-radius:8px;padding:8px 14px 14px;margin:14px 0}legend{font-weight:600;padding:0 6px}
.radio{display:flex;gap:10px;align-items:flex-start;font-weight:400;margin:8px 0}.radio input{width:auto;margin-top:4px}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.table-wrap{position:relative;overflow-x:auto;-webkit-overflow-scrolling:touch}.table-wrap table{min-width:640px}td.mono,.hint a{white-space:nowrap}
.field-error{color:#8a1c1c;font-size:13px;margin-top:4px;font-weight:600}[aria-invalid=true]{border-color:var(--danger);box-shadow:0 0 0 1px var(--danger)}fieldset[aria-invalid=true]{box-shadow:none}
dl.roles dt{color:var(--ink);font-weight:700}dl.roles dd{font-weight:400;color:var(--muted)}.role{font-weight:700}
.steps{margin:8px 0 0;padding-left:20px}.steps li{margin:6px 0}.cta{border-color:#bac8ff;background:#f5f7ff}
@media (max-width:640px){main{padding:14px}.top{flex-wrap:wrap;gap:8px 14px;padding:10px 14px}.top nav{order:3;flex-basis:100%;flex-wrap:wrap;gap:6px 16px;white-space:nowrap}.signout{font-size:13px}.signout span{max-width:52vw;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.card{padding:16px}h1{font-size:21px}.narrow{margin:16px auto}.row-actions{flex-wrap:wrap}dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:8px}
.table-wrap table.stack{min-width:0}table.stack thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}table.stack,table.stack tbody,table.stack tr,table.stack td{display:block}
table.stack tr{border:1px solid var(--line);border-radius:8px;padding:6px 10px;margin:0 0 10px}table.stack td{border:0;padding:3px 0;overflow-wrap:anywhere}table.stack td::before{content:attr(data-label);display:block;color:var(--muted);font-size:12px;font-weight:600}}
@media (hover:none),(pointer:coarse),(max-width:640px){.on-hover{display:none}}
.w0{width:0%}.chart .h0{height:1%}.w5{width:5%}.chart .h5{height:5%}.w10{width:10%}.chart .h10{height:10%}.w15{width:15%}.chart .h15{height:15%}.w20{width:20%}.chart .h20{height:20%}.w25{width:25%}.chart .h25{height:25%}.w30{width:30%}.chart .h30{height:30%}.w35{width:35%}.chart .h35{height:35%}.w40{width:40%}.chart .h40{height:40%}.w45{width:45%}.chart .h45{height:45%}.w50{width:50%}.chart .h50{height:50%}.w55{width:55%}.chart .h55{height:55%}.w60{width:60%}.chart .h60{height:60%}.w65{width:65%}.chart .h65{height:65%}.w70{width:70%}.chart .h70{height:70%}.w75{width:75%}.chart .h75{height:75%}.w80{width:80%}.chart .h80{height:80%}.w85{width:85%}.chart .h85{height:85%}.w90{width:90%}.chart .h90{height:90%}.w95{width:95%}.chart .h95{height:95%}.w100{width:100%}.chart .h100{height:100%}
`;

/** Copy buttons and confirmations: progressive enhancement, every action also works without it. */
export const JS = `
document.addEventListener('click', async (e) => {
  const b = e.target.closest('[data-copy]');
  if (!b) return;
  const input = document.getElementById(b.getAttribute('data-copy'));
  try { await navigator.clipboard.writeText(input.value); } catch { input.select(); document.execCommand('copy'); }
  b.textContent = 'Copied';
  b.setAttribute('aria-live', 'polite');
});
document.addEventListener('submit', (e) => {
  const m = e.target.getAttribute('data-confirm');
  if (m && !window.confirm(m)) e.preventDefault();
  // Rotating with "revoke now" ends the old key at once: ask first, as for a revoke.
  const now = e.target.getAttribute('data-confirm-revoke-now');
  const grace = e.target.querySelector('[name=grace_period_seconds]');
  if (now && grace && grace.value === '0' && !window.confirm(now)) e.preventDefault();
});
`;
