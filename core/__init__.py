"""The base every package stands on: the `Feedback` record, the settings schema and the errors.

`core` imports nothing of the project; `nlp`, `indexer`, `crawlers` and `alerts` import it (and
each other only downward), and the application in `voc/` (CLI, pipeline, scheduler, demo) wires
them all. A change here is a change to the contract between the packages.
"""
