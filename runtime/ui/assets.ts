/**
 * The UI's two static files, the style sheet and the copy-button script, as strings in the
 * module: they then ship inside `dist/`, the development bundle and the sources alike, with no
 * file to locate at run time. Each is served under a name holding its content hash with a year's
 * immutable caching (a new release is a new name), plus an ETag.
 *
 * The script is progressive enhancement only: pages work without it; it reveals the "copy"
 * buttons next to pull commands and copies on click.
 */
import { createHash } from 'node:crypto';

const CSS = `
:root{--fg:#1b1f24;--muted:#57606a;--bg:#fff;--line:#d0d7de;--accent:#0a58ca;--soft:#f6f8fa;--bad:#b42318;--good:#1a7f37;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9aa4ae;--bg:#0d1117;--line:#30363d;--accent:#6cb6ff;--soft:#161b22;--bad:#ff7b72;--good:#56d364}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--bg);padding:4px 8px;z-index:1}
header.top{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;padding:10px 16px;border-bottom:1px solid var(--line);background:var(--soft)}
header.top .brand{font-weight:700;text-decoration:none;color:var(--fg)}
header.top nav ul{display:flex;flex-wrap:wrap;gap:4px 14px;list-style:none;margin:0;padding:0}
header.top form.search{display:flex;gap:6px;flex:1 1 220px;max-width:420px}
header.top .who{margin-left:auto;display:flex;gap:8px;align-items:center}
main{padding:16px;max-width:1200px;margin:0 auto}
h1{font-size:1.5rem;margin:.2em 0 .6em}h2{font-size:1.15rem;margin:1.4em 0 .5em}
input,button{font:inherit;color:inherit}
input[type=search],input[type=text],input[type=password]{width:100%;padding:6px 8px;border:1px solid var(--line);border-radius:6px;background:var(--bg)}
button{white-space:nowrap;overflow-wrap:normal;padding:5px 12px;border:1px solid var(--line);border-radius:6px;background:var(--soft);cursor:pointer}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:.9em}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}
.muted{color:var(--muted)}.bad{color:var(--bad)}.good{color:var(--good)}
.pill{display:inline-block;padding:0 8px;border:1px solid var(--line);border-radius:999px;font-size:.85em}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
nav.crumbs ol{list-style:none;display:flex;flex-wrap:wrap;gap:4px;margin:0 0 8px;padding:0}
nav.crumbs li+li::before{content:"/";margin-right:4px;color:var(--muted)}
.pull{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:8px 0}
.pull code{padding:4px 8px;background:var(--soft);border:1px solid var(--line);border-radius:6px}
nav.pages{display:flex;gap:16px;margin:12px 0}
pre{white-space:pre-wrap;word-break:break-all;background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:8px;font-size:.85em}
form.filter{display:flex;gap:6px;align-items:center;max-width:480px;margin:12px 0}form.filter label{white-space:nowrap}
form.login{max-width:360px;display:grid;gap:10px}
.notice{padding:8px 12px;border:1px solid var(--line);border-left:4px solid var(--bad);border-radius:6px;margin:8px 0}
@media (max-width:720px){
  table.rows thead{position:absolute;left:-9999px}
  table.rows,table.rows tbody,table.rows tr,table.rows td{display:block;width:100%}
  table.rows tr{border-bottom:1px solid var(--line);padding:6px 0}
  table.rows td{border:0;padding:2px 4px}
  table.rows td[data-label]::before{content:attr(data-label) ": ";color:var(--muted)}
  dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:6px}
}
`;

const JS = `document.querySelectorAll('button[data-copy]').forEach(function(b){b.hidden=false;b.addEventListener('click',function(){navigator.clipboard.writeText(b.getAttribute('data-copy')).then(function(){b.textContent='Copied';setTimeout(function(){b.textContent='Copy'},1500)})})});
`;

/** A static file: its body, type, and the hashed name it is served under. */
export interface StaticAsset {
  readonly name: string;
  readonly type: string;
  readonly body: Buffer;
  readonly etag: string;
}

function asset(base: string, extension: string, type: string, text: string): StaticAsset {
  const body = Buffer.from(text.trim());
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { name: `${base}.${hash}.${extension}`, type, body, etag: `"${hash}"` };
}

export const STYLE_SHEET = asset('ui', 'css', 'text/css; charset=utf-8', CSS);
export const SCRIPT = asset('ui', 'js', 'text/javascript; charset=utf-8', JS);

/** The assets by served name. */
export const ASSETS: ReadonlyMap<string, StaticAsset> = new Map([STYLE_SHEET, SCRIPT].map((a) => [a.name, a]));
