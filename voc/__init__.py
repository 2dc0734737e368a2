"""The application: what wires the parts (`crawlers`, `nlp`, `indexer`, `alerts`) over the base
(`core`) — the record pipeline and its spool, settings into rules and notifiers, the scheduler
(`voc run`), the demo, and the `voc` command (`voc.cli`). No other package imports this one."""
