#!/usr/bin/env python3
"""Every PromQL expression in config/grafana/*.json parses, as Prometheus parses it.

Each expression (panel targets, annotation queries, the selectors inside the variables'
label_values()) becomes a recording rule, with Grafana's variables replaced by values of the right
kind, and the whole set goes through `promtool check rules`. A metric name that parses but is not
one sidelight has (tests/prometheus/metric_names.txt) is a typo too: the dashboard and the alert
rule files are checked against that list.

    dashboard_test.py REPO
"""
import json
import pathlib
import re
import subprocess
import sys
import tempfile

GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h",
                "$job": "sidelight", "$instance": ".*"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "offset", "bool", "inf", "nan", "time", "vector", "scalar"}


def expressions(dashboard):
    """(where, expr) for every PromQL expression in a dashboard."""
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            title = node.get("title") or node.get("name") or where
            if isinstance(node.get("expr"), str):
                found.append((f"{title} ({node.get('refId', 'annotation')})", node["expr"]))
            for key, value in node.items():
                walk(value, title)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    walk(dashboard.get("panels", []), "panels")
    walk(dashboard.get("annotations", {}), "annotations")
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else (query or "")
        m = re.fullmatch(r"\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*", query)
        if m:
            found.append((f"variable {var['name']}", m.group(1)))
        elif var.get("type") == "query":
            found.append((f"variable {var['name']}", query))
    return found


def substitute(expr):
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return expr


def metric_names(expr):
    """The metric names an expression reads (a lexical approximation that is enough here)."""
    text = re.sub(r'"(\\.|[^"\\])*"', '""', expr)            # strings
    text = re.sub(r"\{[^}]*\}", "", text)                      # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                     # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][\w:]*)\s*(\()?", text):
        name, call = m.group(1), m.group(2)
        if call or name in KEYWORDS or ":" in name or re.fullmatch(r"\d+\w*", name):
            continue
        names.add(name)
    return names


def rule_expressions(text):
    """The `expr:` values of a rule file, inline or as a block (no YAML parser needed)."""
    exprs, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)(?:- )?expr:\s*(.*)$", line)
        if not m:
            continue
        indent, rest = len(m.group(1)), m.group(2)
        if rest not in ("|", ">", "|-", ">-"):
            exprs.append(rest)
            continue
        block = []
        for follow in lines[i + 1:]:
            if follow.strip() and len(follow) - len(follow.lstrip()) <= indent:
                break
            block.append(follow)
        exprs.append("\n".join(block))
    return exprs


def check_parses(promtool, exprs):
    """promtool's verdict on all expressions at once, then one by one to name the bad ones."""
    def run(batch):
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:expr_{i}:check", "expr": e} for i, (_, e) in enumerate(batch)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            json.dump(rules, f)  # JSON is YAML
            f.flush()
            return subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)

    if run(exprs).returncode == 0:
        return []
    bad = []
    for where, expr in exprs:
        r = run([(where, expr)])
        if r.returncode != 0:
            bad.append(f"{where}: {expr}\n    {r.stdout.strip()} {r.stderr.strip()}")
    return bad or ["promtool refused the batch but no single expression"]


def main():
    root = pathlib.Path(sys.argv[1])
    promtool = subprocess.run([root / "scripts/interop/promtool.sh"], check=True,
                              capture_output=True, text=True).stdout.strip().splitlines()[-1]
    known = {line.strip() for line in (root / "tests/prometheus/metric_names.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")}
    failures = []
    dashboards = sorted((root / "config/grafana").glob("*.json"))
    if not dashboards:
        failures.append("no dashboard in config/grafana")
    total = 0
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        ids = [p.get("id") for p in dashboard.get("panels", [])]
        if len(ids) != len(set(ids)):
            failures.append(f"{path.name}: panel ids repeat: {ids}")
        exprs = []
        for where, expr in expressions(dashboard):
            concrete = substitute(expr)
            if "$" in concrete:
                failures.append(f"{path.name}: {where}: a Grafana variable this test does not know: {expr}")
            exprs.append((where, concrete))
            for name in metric_names(concrete) - known:
                failures.append(f"{path.name}: {where}: unknown metric {name!r} in {expr}")
        failures += [f"{path.name}: does not parse: {b}" for b in check_parses(promtool, exprs)]
        total += len(exprs)
    for path in sorted((root / "config/prometheus").glob("*.yml")):
        for expr in rule_expressions(path.read_text()):
            for name in metric_names(expr) - known:
                failures.append(f"{path.name}: unknown metric {name!r} in {expr.strip()}")
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print(f"ok: {total} PromQL expressions in {len(dashboards)} dashboard(s) parse; every metric name is known")
    return 0


if __name__ == "__main__":
    sys.exit(main())
