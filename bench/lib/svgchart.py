"""A dependency-free SVG chart: one row per (mode, workers, scenario), req/s on the left and
CPU µs/request on the right, a horizontal bar per target (median) with a min–max whisker."""
from xml.sax.saxutils import escape

from report import LABEL, fmt_num, fmt_ratio, ordered_targets, ratio, sort_keys

COLORS = {"origin": "#9e9e9e", "tern": "#e6550d", "nginx": "#31a354", "haproxy": "#3182bd"}
W = 980
LABEL_W = 110
PANEL_W = 330
GAP = 60
BAR_H = 14
BAR_GAP = 4
FONT = "font-family='DejaVu Sans, Verdana, sans-serif'"


def _panel(x0, y0, group, targets, metric, title):
    vals = [group[t][metric] for t in targets if metric in group[t] and group[t][metric]]
    top = max((v[2] for v in vals), default=1.0) or 1.0
    scale = (PANEL_W - 70) / top
    out = [f"<text x='{x0}' y='{y0 - 4}' font-size='11' fill='#555' {FONT}>{escape(title)}</text>"]
    for i, t in enumerate(targets):
        y = y0 + i * (BAR_H + BAR_GAP)
        s = group[t]
        if metric not in s or not s[metric]:
            out.append(f"<text x='{x0 + 4}' y='{y + BAR_H - 3}' font-size='10' fill='#b00' {FONT}>failed</text>")
            continue
        med, lo, hi = s[metric]
        color = COLORS.get(t, "#756bb1")
        out.append(f"<rect x='{x0}' y='{y}' width='{max(med * scale, 1):.1f}' height='{BAR_H}' fill='{color}'/>")
        cy = y + BAR_H / 2
        out.append(f"<line x1='{x0 + lo * scale:.1f}' x2='{x0 + hi * scale:.1f}' y1='{cy}' y2='{cy}' stroke='#222' stroke-width='1.2'/>")
        for xv in (lo, hi):
            out.append(f"<line x1='{x0 + xv * scale:.1f}' x2='{x0 + xv * scale:.1f}' y1='{cy - 4}' y2='{cy + 4}' stroke='#222' stroke-width='1.2'/>")
        out.append(f"<text x='{x0 + hi * scale + 5:.1f}' y='{y + BAR_H - 3}' font-size='10' fill='#222' {FONT}>{fmt_num(med)}</text>")
    return out


def render(agg, scenarios, title, subtitle=""):
    body, y = [], 70
    for mode, w, sc in sort_keys(agg, scenarios):
        g = agg[(mode, w, sc)]
        targets = ordered_targets(g)
        head = (f"{sc} — {scenarios[sc].title if sc in scenarios else ''} — "
                f"{w} worker{'s' if w != 1 else ''} — {mode}")
        body.append(f"<text x='10' y='{y}' font-size='13' font-weight='bold' fill='#111' {FONT}>{escape(head)}</text>")
        ratios = [f"tern/{LABEL[o]}: req/s {fmt_ratio(ratio(g, 'tern', o, 'rps'))}, CPU/req "
                  f"{fmt_ratio(ratio(g, 'tern', o, 'cpu_us_per_req'))}" for o in ("nginx", "haproxy")
                  if ratio(g, 'tern', o, 'rps') is not None]
        if ratios:
            body.append(f"<text x='10' y='{y + 15}' font-size='11' fill='#a63603' "
                        f"{FONT}>{escape('  ·  '.join(ratios))}</text>")
        y0 = y + (36 if ratios else 20)
        for i, t in enumerate(targets):
            ty = y0 + i * (BAR_H + BAR_GAP) + BAR_H - 3
            body.append(f"<text x='{LABEL_W - 8}' y='{ty}' font-size='11' text-anchor='end' fill='#222' {FONT}>{escape(LABEL.get(t, t))}</text>")
        body += _panel(LABEL_W, y0, g, targets, "rps", "requests/s (higher is better)")
        body += _panel(LABEL_W + PANEL_W + GAP, y0, g, targets, "cpu_us_per_req", "proxy CPU µs per request (lower is better)")
        y = y0 + len(targets) * (BAR_H + BAR_GAP) + 24
    h = y + 10
    legend = []
    for i, t in enumerate(["origin", "tern", "nginx", "haproxy"]):
        x = 10 + i * 130
        legend.append(f"<rect x='{x}' y='40' width='12' height='12' fill='{COLORS[t]}'/>"
                      f"<text x='{x + 17}' y='50' font-size='11' fill='#222' {FONT}>{escape(LABEL[t])}</text>")
    return "\n".join([
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{h}' viewBox='0 0 {W} {h}'>",
        f"<rect width='{W}' height='{h}' fill='white'/>",
        f"<text x='10' y='22' font-size='16' font-weight='bold' fill='#111' {FONT}>{escape(title)}</text>",
        f"<text x='{W - 10}' y='22' font-size='10' text-anchor='end' fill='#666' {FONT}>{escape(subtitle)}</text>",
        *legend,
        f"<text x='{W - 10}' y='50' font-size='10' text-anchor='end' fill='#666' {FONT}>bar = median, whisker = min–max over rounds</text>",
        *body,
        "</svg>",
    ]) + "\n"
