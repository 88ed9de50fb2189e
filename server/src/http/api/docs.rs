//! A browsable API reference at `/api/docs`: a self-contained page (no CDN, works offline)
//! that renders `/api/openapi.json` grouped by record type, with parameters and schemas.

use axum::response::Html;

/// The reference page.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulse API reference</title>
<style>
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#17203a;background:#f6f7fb}
header{background:#111830;color:#fff;padding:20px 32px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#c4cae0}
main{max-width:1100px;margin:0 auto;padding:24px 32px 64px}
h2{font-size:18px;margin:28px 0 10px}
details{background:#fff;border:1px solid #e3e6ef;border-radius:8px;margin:8px 0}
summary{cursor:pointer;padding:10px 14px;display:flex;gap:12px;align-items:center;list-style:none}
summary::-webkit-details-marker{display:none}
.m{font:600 11px ui-monospace,monospace;padding:3px 8px;border-radius:4px;min-width:54px;text-align:center;color:#fff}
.get{background:#2563eb}.post{background:#16a34a}.put{background:#d97706}.delete{background:#dc2626}
.p{font-family:ui-monospace,monospace}.s{color:#6b7390}
.body{padding:4px 16px 14px;border-top:1px solid #e3e6ef}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0 12px}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eef0f5;vertical-align:top}
th{color:#6b7390;font-weight:600;font-size:12px;text-transform:uppercase}
code{font:12.5px ui-monospace,monospace;background:#f1f3f9;padding:1px 5px;border-radius:4px}
a{color:#4f46e5}.err{color:#c8304a}
</style></head>
<body><header><h1>Pulse API reference</h1><p id="desc">Loading <a href="/api/openapi.json" style="color:#c7c9fb">/api/openapi.json</a>…</p></header>
<main id="main" aria-busy="true"></main>
<script>
(async function () {
  const main = document.getElementById('main');
  const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
  let doc;
  try { doc = await (await fetch('/api/openapi.json')).json(); }
  catch (e) { main.innerHTML = '<p class="err">Could not load the OpenAPI document: ' + esc(e) + '</p>'; return; }
  document.getElementById('desc').textContent = doc.info.description || '';
  const schemas = (doc.components || {}).schemas || {};
  const refName = r => r && r.$ref ? r.$ref.split('/').pop() : null;
  const typeOf = s => {
    if (!s) return '';
    if (s.$ref) return '<a href="#schema-' + refName(s) + '">' + refName(s) + '</a>';
    if (s.oneOf) return s.oneOf.map(typeOf).filter(Boolean).join(' | ');
    if (s.type === 'array') return typeOf(s.items) + '[]';
    let t = Array.isArray(s.type) ? s.type.filter(x => x !== 'null').join(' | ') + (s.type.includes('null') ? '?' : '') : (s.type || 'object');
    if (s.format) t += ' (' + s.format + ')';
    if (s.enum) t += ': ' + s.enum.map(v => '<code>' + esc(v) + '</code>').join(' ');
    return t;
  };
  const groups = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ['get', 'post', 'put', 'delete']) {
      const op = item[method]; if (!op) continue;
      const tag = (op.tags || ['Other'])[0];
      (groups[tag] = groups[tag] || []).push({ path, method, op });
    }
  }
  let html = '';
  for (const [tag, ops] of Object.entries(groups)) {
    html += '<h2>' + esc(tag) + '</h2>';
    for (const { path, method, op } of ops) {
      html += '<details><summary><span class="m ' + method + '">' + method.toUpperCase() + '</span><span class="p">' + esc(path) + '</span><span class="s">' + esc(op.summary) + '</span></summary><div class="body">';
      if (op.parameters && op.parameters.length) {
        html += '<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>';
        for (const p of op.parameters) html += '<tr><td><code>' + esc(p.name) + '</code>' + (p.required ? ' *' : '') + '</td><td>' + esc(p.in) + '</td><td>' + typeOf(p.schema) + '</td><td>' + esc(p.description) + '</td></tr>';
        html += '</table>';
      }
      if (op.requestBody) html += '<p>Body: ' + typeOf(op.requestBody.content['application/json'].schema) + '</p>';
      html += '<table><tr><th>Status</th><th>Meaning</th><th>Body</th></tr>';
      for (const [code, r] of Object.entries(op.responses)) {
        const c = r.content && r.content['application/json'];
        html += '<tr><td>' + code + '</td><td>' + esc(r.description) + '</td><td>' + (c ? typeOf(c.schema) : '') + '</td></tr>';
      }
      html += '</table></div></details>';
    }
  }
  html += '<h2>Schemas</h2>';
  for (const [name, s] of Object.entries(schemas).sort()) {
    html += '<details id="schema-' + esc(name) + '"><summary><span class="p">' + esc(name) + '</span><span class="s">' + (s.enum ? 'enum' : '') + '</span></summary><div class="body">';
    if (s.properties) {
      html += '<table><tr><th>Field</th><th>Type</th></tr>';
      for (const [f, fs] of Object.entries(s.properties)) html += '<tr><td><code>' + esc(f) + '</code>' + ((s.required || []).includes(f) ? ' *' : '') + '</td><td>' + typeOf(fs) + '</td></tr>';
      html += '</table>';
    } else html += '<p>' + typeOf(s) + '</p>';
    html += '</div></details>';
  }
  main.innerHTML = html;
  main.removeAttribute('aria-busy');
  if (location.hash) { const el = document.getElementById(location.hash.slice(1)); if (el) { el.open = true; el.scrollIntoView(); } }
})();
</script></body></html>
"##;
