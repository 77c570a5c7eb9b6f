//! The HTML report: one self-contained file (inline CSS and JavaScript, no external assets)
//! with the totals, a summary per RFC section, filters by status and level, and every
//! failure's HTTP exchanges. The page is complete without JavaScript; the script only adds
//! the filters.

use std::fmt::Write as _;

use crate::model::{Exchange, Report, Status};

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

const CSS: &str = r#"
:root{--pass:#1a7f37;--fail:#cf222e;--skip:#9a6700;--xfail:#8250df;--bg:#f6f8fa;--line:#d0d7de;--text:#1f2328;--muted:#59636e}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--text);background:#fff}
header{padding:20px 28px;border-bottom:1px solid var(--line);background:var(--bg)}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}.muted{color:var(--muted)}
main{padding:0 28px 40px;max-width:1300px}
.totals{display:flex;gap:14px;margin-top:14px;flex-wrap:wrap}
.total{border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:120px;background:#fff}
.total b{display:block;font-size:26px}.total.passed b{color:var(--pass)}.total.failed b{color:var(--fail)}.total.skipped b{color:var(--skip)}
.bar{display:flex;height:10px;border-radius:5px;overflow:hidden;margin-top:12px;max-width:640px;background:var(--line)}
.bar span{display:block}.bar .p{background:var(--pass)}.bar .f{background:var(--fail)}.bar .s{background:var(--skip)}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600}.n{text-align:right;font-variant-numeric:tabular-nums}
.sections{max-width:900px}.sections td.n.f{color:var(--fail);font-weight:600}.sections tr.bad td:first-child{border-left:3px solid var(--fail)}
.mini{display:flex;height:8px;width:140px;border-radius:4px;overflow:hidden;background:var(--line);margin-top:5px}.mini span{display:block}
.mini .p{background:var(--pass)}.mini .f{background:var(--fail)}.mini .s{background:var(--skip)}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.badge.passed{background:var(--pass)}.badge.failed{background:var(--fail)}.badge.skipped{background:var(--skip)}.badge.xfail{background:var(--xfail)}
.lvl{font-size:11px;font-weight:600;border:1px solid var(--line);border-radius:4px;padding:0 4px;color:var(--muted)}
.filters{display:flex;gap:18px;flex-wrap:wrap;align-items:center;padding:10px 0;position:sticky;top:0;background:#fff;border-bottom:1px solid var(--line)}
.filters label{cursor:pointer;user-select:none}.filters input[type=search]{padding:4px 8px;border:1px solid var(--line);border-radius:6px;min-width:220px}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
tr.check td:first-child code{font-weight:600}
tr.detail td{background:#fffafa;padding:8px 16px}
.msg{color:var(--fail);margin:2px 0 6px}.skipmsg{color:var(--muted)}
details{margin:6px 0;border:1px solid var(--line);border-radius:6px;background:#fff}
summary{cursor:pointer;padding:4px 8px;font-family:ui-monospace,monospace;font-size:12px}
pre{margin:0;padding:8px;white-space:pre-wrap;word-break:break-all;max-height:360px;overflow:auto;border-top:1px solid var(--line);background:var(--bg)}
.hidden{display:none}
.fails{padding-left:18px;max-width:1100px}.fails li{margin:4px 0}.fails a{color:var(--fail);text-decoration:none}
"#;

const JS: &str = r#"
(function(){
  var boxes=document.querySelectorAll('.filters input[type=checkbox]');
  var q=document.getElementById('q');
  function apply(){
    var on={};boxes.forEach(function(b){on[b.value]=b.checked;});
    var text=(q.value||'').toLowerCase();var shown=0;
    document.querySelectorAll('tr.check').forEach(function(tr){
      var ok=on['status:'+tr.dataset.status]&&on['level:'+tr.dataset.level]&&
        (!text||tr.textContent.toLowerCase().indexOf(text)>=0);
      tr.classList.toggle('hidden',!ok);
      var d=document.getElementById('d-'+tr.dataset.id);if(d){d.classList.toggle('hidden',!ok);}
      if(ok){shown++;}
    });
    document.getElementById('shown').textContent=shown;
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});q.addEventListener('input',apply);
  var h=location.hash.replace('#','');
  if(h.indexOf('status=')===0){var want=h.slice(7).split(',');
    boxes.forEach(function(b){if(b.value.indexOf('status:')===0){b.checked=want.indexOf(b.value.slice(7))>=0;}});}
  apply();
})();
"#;

/// Percent-decodes a URL for display (the exact URL is shown below it).
fn decoded(url: &str) -> String {
    let b = url.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn exchange(out: &mut String, i: usize, last: bool, ex: &Exchange) {
    let status = if ex.error.is_some() {
        "no response".to_string()
    } else {
        ex.status.to_string()
    };
    let _ = write!(
        out,
        "<details{}><summary>{}. {} {} → {}</summary><pre>",
        if last { " open" } else { "" },
        i + 1,
        esc(&ex.method),
        esc(&decoded(&ex.url)),
        esc(&status)
    );
    let mut text = format!("{} {}\n", ex.method, ex.url);
    for (k, v) in &ex.request_headers {
        text.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(b) = &ex.request_body {
        text.push('\n');
        text.push_str(&pretty(b));
        text.push('\n');
    }
    text.push_str("\n――― response ―――\n");
    match &ex.error {
        Some(e) => text.push_str(&format!("(no response: {e})\n")),
        None => {
            text.push_str(&format!("HTTP {}\n", ex.status));
            for (k, v) in &ex.response_headers {
                text.push_str(&format!("{k}: {v}\n"));
            }
            if !ex.response_body.is_empty() {
                text.push('\n');
                text.push_str(&pretty(&ex.response_body));
            }
        }
    }
    out.push_str(&esc(&text));
    out.push_str("</pre></details>");
}

fn pretty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_string())
}

/// Renders the report.
pub fn render(report: &Report) -> String {
    let c = report.counts;
    let total = (c.passed + c.failed + c.skipped).max(1);
    let pct = |n: usize| n as f64 * 100.0 / total as f64;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>SCIM conformance: {} passed, {} failed, {} skipped</title><style>{CSS}</style></head><body>",
        c.passed, c.failed, c.skipped
    );
    let _ = write!(
        o,
        "<header><h1>SCIM 2.0 conformance report</h1>\
         <div class=\"muted\">{} · <code>{}</code> · started {} · {:.1} s</div>\
         <div class=\"totals\">\
         <div class=\"total passed\"><b id=\"count-passed\">{}</b>passed</div>\
         <div class=\"total failed\"><b id=\"count-failed\">{}</b>failed{}</div>\
         <div class=\"total skipped\"><b id=\"count-skipped\">{}</b>skipped</div>\
         <div class=\"total\"><b id=\"count-total\">{}</b>checks</div></div>\
         <div class=\"bar\" title=\"passed / failed / skipped\"><span class=\"p\" style=\"width:{:.2}%\"></span>\
         <span class=\"f\" style=\"width:{:.2}%\"></span><span class=\"s\" style=\"width:{:.2}%\"></span></div>",
        esc(&report.tool),
        esc(&report.base_url),
        esc(&report.started),
        report.duration_ms as f64 / 1000.0,
        c.passed,
        c.failed,
        match report.results.iter().filter(|r| r.expected_failure).count() {
            0 => String::new(),
            n => format!(" <span class=\"muted\">({n} known)</span>"),
        },
        c.skipped,
        report.results.len(),
        pct(c.passed),
        pct(c.failed),
        pct(c.skipped)
    );
    let features: Vec<String> = report
        .features
        .iter()
        .map(|(f, on)| format!("{}: {}", f.as_str(), if *on { "yes" } else { "no" }))
        .collect();
    let _ = write!(
        o,
        "<div class=\"muted\" style=\"margin-top:8px\">Advertised features: {}</div>",
        esc(&features.join(" · "))
    );
    if report.interrupted {
        o.push_str("<p class=\"msg\">The run was interrupted.</p>");
    }
    if !report.leftovers.is_empty() {
        let _ = write!(
            o,
            "<p class=\"msg\">Could not delete: {}</p>",
            esc(&report.leftovers.join(", "))
        );
    }
    o.push_str("</header><main>");
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        o.push_str("<h2>Failures</h2><ul class=\"fails\" id=\"failures\">");
        for r in failed {
            let _ = write!(
                o,
                "<li><a href=\"#c-{0}\"><code>{0}</code></a> <span class=\"lvl\">{1}</span> {2}{3}<br><span class=\"muted\">{4}</span></li>",
                esc(r.id),
                r.level.as_str(),
                esc(r.title),
                if r.expected_failure { " <span class=\"badge xfail\">known</span>" } else { "" },
                esc(&short(r.message.as_deref().unwrap_or(""), 160))
            );
        }
        o.push_str("</ul>");
    }
    o.push_str("<h2>By RFC section</h2><table class=\"sections\" id=\"sections\"><thead><tr><th>Section</th><th>Topic</th><th class=\"n\">Passed</th><th class=\"n\">Failed</th><th class=\"n\">Skipped</th><th></th></tr></thead><tbody>");
    let mut sections = report.by_section();
    sections.sort_by_key(|(s, _)| section_key(s));
    for (section, sc) in sections {
        let n = (sc.passed + sc.failed + sc.skipped).max(1) as f64;
        let _ = write!(
            o,
            "<tr{}><td>{}</td><td class=\"muted\">{}</td><td class=\"n\">{}</td><td class=\"n{}\">{}</td><td class=\"n\">{}</td>\
             <td><div class=\"mini\"><span class=\"p\" style=\"width:{:.1}%\"></span><span class=\"f\" style=\"width:{:.1}%\"></span><span class=\"s\" style=\"width:{:.1}%\"></span></div></td></tr>",
            if sc.failed > 0 { " class=\"bad\"" } else { "" },
            esc(section),
            esc(topic(section)),
            sc.passed,
            if sc.failed > 0 { " f" } else { "" },
            sc.failed,
            sc.skipped,
            sc.passed as f64 * 100.0 / n,
            sc.failed as f64 * 100.0 / n,
            sc.skipped as f64 * 100.0 / n
        );
    }
    o.push_str("</tbody></table>");
    o.push_str("<h2>Checks</h2><div class=\"filters\"><span>Status:</span>");
    for (s, on) in [("failed", true), ("passed", true), ("skipped", true)] {
        let _ = write!(
            o,
            "<label><input type=\"checkbox\" value=\"status:{s}\"{}> {s}</label>",
            if on { " checked" } else { "" }
        );
    }
    o.push_str("<span>Level:</span>");
    for l in ["MUST", "SHOULD", "INTEROP"] {
        let _ = write!(
            o,
            "<label><input type=\"checkbox\" value=\"level:{l}\" checked> {l}</label>"
        );
    }
    let _ = write!(
        o,
        "<input type=\"search\" id=\"q\" placeholder=\"search id, title, section\">\
         <span class=\"muted\"><span id=\"shown\">{}</span> shown</span></div>",
        report.results.len()
    );
    o.push_str("<table id=\"checks\"><thead><tr><th>Check</th><th>Status</th><th>Level</th><th>Section</th><th>What the server must do</th></tr></thead><tbody>");
    // Failures first, then passes, then skips; run order within each.
    let order = [Status::Failed, Status::Passed, Status::Skipped];
    for st in order {
        for r in report.results.iter().filter(|r| r.status == st) {
            let badge = if r.expected_failure {
                "<span class=\"badge xfail\" title=\"listed with --expect-fail\">failed (known)</span>".to_string()
            } else {
                format!("<span class=\"badge {0}\">{0}</span>", r.status.as_str())
            };
            let _ = write!(
                o,
                "<tr class=\"check\" id=\"c-{id}\" data-id=\"{id}\" data-status=\"{st}\" data-level=\"{lvl}\">\
                 <td><code>{id}</code></td><td>{badge}</td><td><span class=\"lvl\">{lvl}</span></td><td>{sec}</td><td>{title}{msg}</td></tr>",
                id = esc(r.id),
                st = r.status.as_str(),
                lvl = r.level.as_str(),
                sec = esc(r.section),
                title = esc(r.title),
                msg = match (&r.message, r.status) {
                    (Some(m), Status::Skipped) => format!("<div class=\"skipmsg\">{}</div>", esc(m)),
                    _ => String::new(),
                }
            );
            if r.status == Status::Failed || !r.exchanges.is_empty() {
                let _ = write!(
                    o,
                    "<tr class=\"detail\" id=\"d-{}\"><td colspan=\"5\"><div class=\"msg\">{}</div>",
                    esc(r.id),
                    esc(r.message.as_deref().unwrap_or(""))
                );
                let n = r.exchanges.len();
                for (i, ex) in r.exchanges.iter().enumerate() {
                    exchange(&mut o, i, i + 1 == n, ex);
                }
                o.push_str("</td></tr>");
            }
        }
    }
    o.push_str("</tbody></table></main>");
    let _ = write!(o, "<script>{JS}</script></body></html>");
    o
}

/// Orders sections by RFC number, then numerically by section.
pub(crate) fn section_key(s: &str) -> (u32, Vec<u32>) {
    let mut parts = s.trim_start_matches("RFC ").splitn(2, ' ');
    let rfc = parts
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX);
    let sec = parts
        .next()
        .unwrap_or("")
        .trim_start_matches('§')
        .split('.')
        .filter_map(|n| n.parse().ok())
        .collect();
    (rfc, sec)
}

/// What a section is about (a short description, not the RFC's heading).
fn topic(section: &str) -> &'static str {
    match section {
        "RFC 6750 §3" => "Bearer token challenge (WWW-Authenticate)",
        "RFC 7232 §3.1" => "If-Match",
        "RFC 7643 §2.1" => "Attribute names are case-insensitive",
        "RFC 7643 §2.2" => "Attribute characteristics (returned)",
        "RFC 7643 §2.3.1" => "String values",
        "RFC 7643 §2.3.2" => "Boolean values",
        "RFC 7643 §2.3.8" => "Complex attributes",
        "RFC 7643 §2.4" => "Multi-valued attributes, primary",
        "RFC 7643 §2.5" => "Unassigned and null values",
        "RFC 7643 §3" => "Resources and schema extensions",
        "RFC 7643 §3.1" => "Common attributes: id, externalId, meta",
        "RFC 7643 §4.1" => "User resource",
        "RFC 7643 §4.1.1" => "User singular attributes (userName, password)",
        "RFC 7643 §4.1.2" => "User multi-valued attributes (groups)",
        "RFC 7643 §4.2" => "Group resource",
        "RFC 7643 §4.3" => "Enterprise User extension",
        "RFC 7643 §5" => "ServiceProviderConfig",
        "RFC 7643 §6" => "ResourceType",
        "RFC 7643 §7" => "Schema definitions",
        "RFC 7644 §2" => "Authentication",
        "RFC 7644 §3.1" => "Media type application/scim+json",
        "RFC 7644 §3.3" => "Creating resources (POST)",
        "RFC 7644 §3.4.1" => "Retrieving a known resource",
        "RFC 7644 §3.4.2" => "Querying: ListResponse",
        "RFC 7644 §3.4.2.2" => "Filtering",
        "RFC 7644 §3.4.2.3" => "Sorting",
        "RFC 7644 §3.4.2.4" => "Index pagination",
        "RFC 7644 §3.4.2.5" => "attributes / excludedAttributes on queries",
        "RFC 7644 §3.4.3" => "Querying with POST /.search",
        "RFC 7644 §3.5.1" => "Replacing with PUT",
        "RFC 7644 §3.5.2" => "PATCH",
        "RFC 7644 §3.5.2.1" => "PATCH add",
        "RFC 7644 §3.5.2.2" => "PATCH remove",
        "RFC 7644 §3.5.2.3" => "PATCH replace",
        "RFC 7644 §3.6" => "Deleting resources",
        "RFC 7644 §3.7" => "Bulk",
        "RFC 7644 §3.7.1" => "Bulk: circular references",
        "RFC 7644 §3.7.2" => "Bulk: bulkId references",
        "RFC 7644 §3.7.3" => "Bulk: errors and failOnErrors",
        "RFC 7644 §3.7.4" => "Bulk: limits",
        "RFC 7644 §3.8" => "JSON, UTF-8, media types",
        "RFC 7644 §3.9" => "attributes / excludedAttributes",
        "RFC 7644 §3.10" => "Attribute notation, URN paths",
        "RFC 7644 §3.12" => "Errors and status codes",
        "RFC 7644 §3.14" => "ETags and preconditions",
        "RFC 7644 §4" => "Discovery endpoints",
        "RFC 9865 §2" => "Cursor pagination",
        "RFC 9865 §2.2" => "Cursor pagination errors",
        "RFC 9865 §3" => "Cursor pagination in ServiceProviderConfig",
        _ => "",
    }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let cut: String = s.chars().take(n).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_urls_for_display() {
        assert_eq!(
            decoded("/Users?filter=userName%20eq%20%22a%22&x=%zz%4"),
            "/Users?filter=userName eq \"a\"&x=%zz%4"
        );
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn sections_sort_numerically() {
        let mut v = vec![
            "RFC 7644 §3.12",
            "RFC 7644 §3.4.2.2",
            "RFC 7643 §5",
            "RFC 7644 §3.4.2",
        ];
        v.sort_by_key(|s| section_key(s));
        assert_eq!(
            v,
            [
                "RFC 7643 §5",
                "RFC 7644 §3.4.2",
                "RFC 7644 §3.4.2.2",
                "RFC 7644 §3.12"
            ]
        );
    }
}
