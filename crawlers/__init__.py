"""Gathering customer voice: survey-export importers (`crawlers.importers`) and, later, Scrapy spiders.

Everything produced here is a batch of `core.record.Feedback` records handed to `voc.pipeline`.
"""
