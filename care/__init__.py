"""Satisfaction and the closed loop: what customers say in surveys and 回访, measured and acted on.

    satisfaction.py   CSAT / NPS by segment with intervals, drivers, the survey/social table
    rules.py          the satisfaction_drop alert rule (registered beside the alerts package's)
    cases.py          cases (工单): records or an incident, team, assignee, SLA, 回访, status history
    sla.py            working hours on Chinese working days (chinesecalendar): case deadlines
    routing.py        [[cases.routes]]: which records open a case, for which team (open_routed_cases)
    report.py         the weekly service report per team

It goes through the `FeedbackStore` interface only; it imports core, nlp, indexer and alerts; the
application (`voc`) and the console (`web`) import it.
"""
