#!/usr/bin/python3
"""Generates deploy/grafana/dashboards/trilemma.json, the Trilemma dashboard.

The panels are listed once here, as data, and written out as Grafana JSON so
the layout, units and queries stay consistent; tests/deploy checks that the
committed JSON equals this script's output and that every metric it queries
is one the server defines.

  deploy/grafana/make_dashboard.py > deploy/grafana/dashboards/trilemma.json

Queries use two dashboard variables: $datasource (a Prometheus data source,
so the file provisions without `${DS_...}` import placeholders) and $engine
(multi-select, include all; matched with =~).
"""
import json
import sys

SEL = 'engine=~"$engine"'
RATE = "$__rate_interval"


def quantiles(metric, by="engine"):
    return [(f"histogram_quantile({q}, sum by ({by}, le) "
             f"(rate({metric}_bucket{{{SEL}}}[{RATE}])))",
             f"{{{{{by}}}}} p{int(q * 100)}") for q in (0.5, 0.9, 0.99)]


def mean(metric, by="engine"):
    return (f"sum by ({by}) (rate({metric}_sum{{{SEL}}}[{RATE}])) / "
            f"sum by ({by}) (rate({metric}_count{{{SEL}}}[{RATE}]))")


# (row title, [(panel title, unit, description, [(expr, legend)])])
ROWS = [
    ("Load", [
        ("Requests/s by outcome", "reqps",
         "Finished requests per second, by how they ended.",
         [(f"sum by (engine, outcome) (rate(trilemma_requests_total{{{SEL}}}[{RATE}]))",
           "{{engine}} {{outcome}}")]),
        ("Requests/s by protocol", "reqps",
         "Finished requests per second by the front end they came by: gRPC "
         "or the OpenAI-compatible HTTP endpoint.",
         [(f"sum by (protocol) (rate(trilemma_requests_total{{{SEL}}}[{RATE}]))",
           "{{protocol}}")]),
        ("Active sessions", "short", "Sessions holding state now.",
         [(f"sum by (engine) (trilemma_active_sessions{{{SEL}}})", "{{engine}}")]),
        ("Waiting requests", "short",
         "Requests queued for admission (state budget or batch full).",
         [(f"sum by (engine) (trilemma_waiting_requests{{{SEL}}})", "{{engine}}")]),
        ("Step batch size (mean)", "short",
         "Sessions advanced together per engine step: continuous batching at work.",
         [(mean("trilemma_step_batch_size"), "{{engine}}")]),
        ("Tokens/s", "short", "Prompt and generated tokens per second.",
         [(f"sum by (engine) (rate(trilemma_generated_tokens_total{{{SEL}}}[{RATE}]))",
           "{{engine}} generated"),
          (f"sum by (engine) (rate(trilemma_prompt_tokens_total{{{SEL}}}[{RATE}]))",
           "{{engine}} prompt")]),
    ]),
    ("Latency", [
        ("Time to first token", "s", "TTFT quantiles per engine.",
         quantiles("trilemma_time_to_first_token_seconds")),
        ("Inter-token latency", "s", "Gap between streamed tokens.",
         quantiles("trilemma_inter_token_latency_seconds")),
        ("Step duration", "s", "Wall time of one batched engine step.",
         quantiles("trilemma_step_duration_seconds")),
        ("Queue time", "s", "Time from arrival to admission.",
         quantiles("trilemma_queue_duration_seconds")),
        ("Request duration", "s", "Arrival to final summary.",
         quantiles("trilemma_request_duration_seconds")),
    ]),
    ("The triangle, live", [
        ("FLOPs per token (mean)", "short",
         "Analytic compute of one decode step per session: flat for efficient "
         "engines, growing with context for attention.",
         [(mean("trilemma_token_flops"), "{{engine}}")]),
        ("Context tokens (mean)", "short",
         "Context held by the sessions being stepped; read against FLOPs/token "
         "and state bytes.",
         [(mean("trilemma_context_tokens"), "{{engine}}")]),
        ("State bytes per session (mean)", "bytes",
         "Per-step state of a session: flat for compact engines.",
         [(mean("trilemma_session_state_bytes"), "{{engine}}")]),
        ("State bytes by tier", "bytes",
         "All state held now, model tier vs external (e.g. a key-value store).",
         [(f"sum by (engine, tier) (trilemma_state_bytes{{{SEL}}})",
           "{{engine}} {{tier}}")]),
        ("Budget utilisation", "percentunit",
         "Model-tier state held over the engine's state budget.",
         [(f'sum by (engine) (trilemma_state_bytes{{{SEL},tier="model"}}) / '
           f"sum by (engine) (trilemma_state_budget_bytes{{{SEL}}})", "{{engine}}")]),
        ("KV blocks used / total", "short",
         "Blocks of the budget held by sessions (KV pages and fixed states) "
         "next to all blocks the budget is carved into.",
         [(f"sum by (engine, use) (trilemma_state_blocks{{{SEL}}})",
           "{{engine}} {{use}}")]),
        ("Recall accuracy by context", "percentunit",
         "Hits over all probes for contexts up to each bucket bound (le).",
         [(f'sum by (engine, le) (rate(trilemma_recall_context_tokens_bucket{{{SEL},result="hit"}}[{RATE}])) / '
           f"sum by (engine, le) (rate(trilemma_recall_context_tokens_bucket{{{SEL}}}[{RATE}]))",
           "{{engine}} ≤{{le}}")]),
        ("Recall probes/s by result", "short", "Probes scored per second.",
         [(f"sum by (engine, result) (rate(trilemma_recall_probes_total{{{SEL}}}[{RATE}]))",
           "{{engine}} {{result}}")]),
        ("Engines", "short", "What each hosted engine claims (1 = hosted).",
         [(f"trilemma_engine_info{{{SEL}}}",
           "{{engine}} {{family}} E={{efficient}} C={{compact}} R={{recall}}")]),
    ]),
    ("Limits", [
        ("Limit events by kind", "short",
         "state, context, budget, queue_full, queue_timeout, preempted, "
         "session_idle.",
         [(f"sum by (engine, limit) (rate(trilemma_limit_events_total{{{SEL}}}[{RATE}]))",
           "{{engine}} {{limit}}")]),
        ("RESOURCE_EXHAUSTED/s", "reqps",
         "Requests refused because a budget or the wait queue was full.",
         [(f'sum by (engine) (rate(trilemma_requests_total{{{SEL},outcome="rejected"}}[{RATE}]))',
           "{{engine}}")]),
        ("Recomputed tokens/s", "short",
         "Context recomputed by sessions re-admitted after a preemption: the "
         "compute the preempt policy spends instead of refusing.",
         [(f"sum by (engine) (rate(trilemma_recomputed_tokens_total{{{SEL}}}[{RATE}]))",
           "{{engine}}")]),
        ("FLOPs/s", "short", "Analytic compute throughput per engine.",
         [(f"sum by (engine) (rate(trilemma_flops_total{{{SEL}}}[{RATE}]))",
           "{{engine}}")]),
    ]),
    ("Security", [
        ("Auth failures/s by reason", "reqps",
         "Calls refused UNAUTHENTICATED: missing, malformed, invalid or "
         "mismatched bearer token (server-wide, no engine).",
         [(f"sum by (reason) (rate(trilemma_auth_failures_total[{RATE}]))",
           "{{reason}}")]),
        ("Quota rejections/s by quota", "reqps",
         "Calls or Session turns refused RESOURCE_EXHAUSTED by a per-client "
         "quota (streams, sessions, tokens per second).",
         [(f"sum by (quota) (rate(trilemma_quota_rejections_total[{RATE}]))",
           "{{quota}}")]),
    ]),
]


def dashboard():
    panels, pid, y = [], 1, 0
    for row_title, row_panels in ROWS:
        panels.append({"type": "row", "title": row_title, "id": pid,
                       "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        pid, y = pid + 1, y + 1
        for i, (title, unit, desc, targets) in enumerate(row_panels):
            panels.append({
                "type": "timeseries", "title": title, "id": pid,
                "description": desc,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list",
                                       "placement": "bottom"},
                            "tooltip": {"mode": "multi"}},
                "gridPos": {"h": 8, "w": 8, "x": (i % 3) * 8,
                            "y": y + (i // 3) * 8},
                "targets": [{"refId": chr(ord("A") + j), "expr": expr,
                             "legendFormat": legend,
                             "datasource": {"type": "prometheus",
                                            "uid": "${datasource}"}}
                            for j, (expr, legend) in enumerate(targets)],
            })
            pid += 1
        y += 8 * ((len(row_panels) + 2) // 3)
    return {
        "title": "Trilemma",
        "uid": "trilemma",
        "description": "Efficiency, compactness and recall of every hosted "
                       "engine, measured under load.",
        "tags": ["trilemma"],
        "schemaVersion": 37,
        "version": 1,
        "editable": True,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0},
            {"name": "engine", "label": "Engine", "type": "query",
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(trilemma_engine_info, engine)",
                       "refId": "engines"},
             "definition": "label_values(trilemma_engine_info, engine)",
             "multi": True, "includeAll": True, "allValue": ".*",
             "current": {"text": "All", "value": "$__all"},
             "refresh": 2, "sort": 1, "hide": 0},
        ]},
        "panels": panels,
    }


if __name__ == "__main__":
    json.dump(dashboard(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
